-- Running the iblai program as a user would: through a shell (to unset variables or feed stdin),
-- on a pseudo-terminal, and through the completion functions of bash and zsh.
local helpers = require "support.helpers"

local M = {}

local q = helpers.quote
M.program = helpers.program

local function slurp(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

-- "export A=B; " for each variable; false unsets it.
local function exports(env)
  local parts = {}
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = v == false and ("unset " .. k .. "; ") or ("export " .. k .. "=" .. q(v) .. "; ")
  end
  return table.concat(parts)
end

--- Runs a shell command line; IBLAI names the program. Returns exit code, stdout, stderr.
function M.sh(cmd, env)
  local out, err = os.tmpname(), os.tmpname()
  local line = exports(env) .. "IBLAI=" .. q(M.program) .. "; { " .. cmd .. "\n} >" .. out .. " 2>" .. err
  local ok, _, code = os.execute(line)
  return ok and 0 or code, slurp(out), slurp(err)
end

--- Runs the program with args, as helpers.run does, but env may also unset a variable (false).
function M.run(args, env)
  local words = { "$IBLAI" }
  for _, a in ipairs(args) do words[#words + 1] = q(a) end
  return M.sh(table.concat(words, " ") .. " </dev/null", env)
end

--- Runs the program with its output on a pseudo-terminal (script(1)); returns code and the
-- terminal's text, with the terminal's CR LF turned back into LF.
function M.pty(args, env)
  local words = { q(M.program) }
  for _, a in ipairs(args) do words[#words + 1] = q(a) end
  local code, out = M.sh("script -qec " .. q(table.concat(words, " ")) .. " /dev/null", env)
  return code, (out:gsub("\r\n", "\n"))
end

--- The completions bash offers for a command line typed up to its end.
function M.bash_complete(line)
  local script = ([[
    export PATH=%s:"$PATH"
    source %s/tools/completion/iblai.bash
    COMP_LINE=%s; COMP_POINT=${#COMP_LINE}
    read -ra COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _iblai
    printf '%%s\n' "${COMPREPLY[@]}"]]):format(q(M.program:match("^(.*)/[^/]+$")), q(helpers.root), q(line))
  local code, out, err = M.sh("bash -c " .. q(script))
  assert(code == 0, err)
  local list = {}
  for w in out:gmatch("[^\n]+") do list[#list + 1] = w end
  return list
end

--- The completions zsh's _iblai hands to compadd for the given words (the last one is completed),
-- with compadd replaced by a stub that prints them.
function M.zsh_complete(words)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = q(w) end
  local script = ([[
    export PATH=%s:"$PATH"
    autoload -U compinit; compinit -u -d "$(mktemp)"
    source %s/tools/completion/iblai.zsh
    print -r -- "registered: ${_comps[iblai]}"
    compadd() { local name=${@[-1]}; print -rl -- ${(P)name} }
    _files() { print -r -- "(files)" }
    words=(%s); CURRENT=${#words}
    _iblai]]):format(q(M.program:match("^(.*)/[^/]+$")), q(helpers.root), table.concat(quoted, " "))
  local code, out, err = M.sh("zsh -f -c " .. q(script))
  assert(code == 0, err)
  local list = {}
  for w in out:gmatch("[^\n]+") do list[#list + 1] = w end
  return list
end

--- Whether a command exists on this machine.
function M.has(command)
  return os.execute("command -v " .. command .. " >/dev/null 2>&1") == true
end

return M
