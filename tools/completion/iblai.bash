# bash completion for iblai: commands, options, operationIds, parameter names (name=), enum
# values and API paths, all asked of the program itself (iblai __complete), so they always match
# the installed version. Install as /usr/share/bash-completion/completions/iblai, or source it.

_iblai() {
  local line=${COMP_LINE:0:COMP_POINT}
  local -a words
  # Split on blanks only: bash splits name=value at the '=', the program wants whole words.
  read -ra words <<< "$line"
  [[ $line =~ [[:space:]]$ ]] && words+=("")
  ((${#words[@]} < 2)) && words+=("")
  # A quoted word ('/api/orgs/{org}/...' as the README writes paths) is completed without its quotes.
  local i
  for i in "${!words[@]}"; do
    words[i]=${words[i]#[\'\"]}
    words[i]=${words[i]%[\'\"]}
  done
  local cur=${words[${#words[@]}-1]}
  local prog=${words[0]}
  [[ $prog == iblai ]] || prog=${prog/#\~/$HOME}
  local IFS=$'\n'
  local -a found
  found=($("$prog" __complete "${words[@]:1}" 2>/dev/null))
  # bash completes only the part after the last '=' or ':' of the word: hand it that part.
  local before=""
  [[ $cur == *[=:]* ]] && before=${cur%"${cur##*[=:]}"}
  COMPREPLY=()
  local c
  for c in "${found[@]}"; do
    [[ $c == "$before"* ]] && COMPREPLY+=("${c#"$before"}")
  done
  # name= and a path segment ending in / go on without a space
  for c in "${COMPREPLY[@]}"; do
    if [[ $c == *= || $c == */ ]]; then
      compopt -o nospace 2>/dev/null
      break
    fi
  done
}

complete -o default -o bashdefault -F _iblai iblai
