#compdef iblai
# zsh completion for iblai: commands, options, operationIds, parameter names (name=), enum
# values and API paths, all asked of the program itself (iblai __complete), so they always match
# the installed version. Install as _iblai in a directory of $fpath, or source it after compinit.

_iblai() {
  local -a found spaced unspaced
  local c
  found=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for c in $found; do
    [[ -z $c ]] && continue
    # name= and a path segment ending in / go on without a space
    if [[ $c == *= || $c == */ ]]; then unspaced+=("$c"); else spaced+=("$c"); fi
  done
  if (( ${#spaced} + ${#unspaced} == 0 )); then
    _files
    return
  fi
  (( ${#unspaced} )) && compadd -Q -S '' -a unspaced
  (( ${#spaced} )) && compadd -Q -a spaced
  return 0
}

if [[ $funcstack[1] == _iblai ]]; then
  _iblai "$@"
else
  compdef _iblai iblai
fi
