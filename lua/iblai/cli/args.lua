--- Command-line parsing shared by the program's commands: one-line usage errors and the options
-- every command that talks to the API takes, so their names and help read the same everywhere.
local M = {}

-- The client's default (src/session.c); a spec checks that the two agree.
M.DEFAULT_BASE_URL = "https://api.iblai.app/dm"

--- Prints one usage line on stderr and returns 2, the usage exit status.
-- @param prog string e.g. "iblai call"
-- @param message string
function M.usage(prog, message)
  message = tostring(message):gsub("%s*\n%s*", "; ")
  io.stderr:write(("%s: %s (%s --help tells more)\n"):format(prog, message, prog))
  return 2
end

--- Parses args with an argparse parser; a mistake gives one line on stderr and nil (exit 2).
-- @param parser an argparse parser
-- @param args list of strings
-- @param prog string (optional) the name for the message; the parser's own otherwise
function M.parse(parser, args, prog)
  -- "--timeout -1" would read -1 as an option: hand a negative number to the option before it,
  -- so that the option's own check says what is wrong with it
  local takes_value = {}
  for _, o in ipairs(parser._options) do
    for _, alias in ipairs(o._aliases) do takes_value[alias] = o._maxargs > 0 end
  end
  local joined, rest = {}, false
  for i, a in ipairs(args) do
    local prev = joined[#joined]
    rest = rest or prev == "--" -- after "--" every word is an argument as it stands
    if i > 1 and not rest and a:find("^%-%.?%d") and tonumber(a) and prev:find("^%-%-") and takes_value[prev] then
      joined[#joined] = prev .. "=" .. a
    else
      joined[#joined + 1] = a
    end
  end
  local ok, opts = parser:pparse(joined)
  if ok then return opts end
  M.usage(prog or parser._name, opts)
  return nil
end

--- Where to send and as whom: --base-url, --org, --username (alias --user).
-- @param p an argparse parser
function M.connection(p)
  p:option("--base-url", "The API's base URL; overrides IBLAI_BASE_URL (default " .. M.DEFAULT_BASE_URL .. ")."):argname("<url>")
  p:option("--org", "The org (platform key) that fills {org}; overrides IBLAI_ORG."):argname("<org>")
  p:option("--username --user", "The username that fills {user_id} (the API's user ids in paths are usernames); "
    .. "overrides IBLAI_USERNAME."):argname("<username>")
end

local function seconds(text)
  local v = tonumber(text)
  if not v or v ~= v or v <= 0 or v > 1e6 then
    return nil, ("--timeout must be a number of seconds above 0, got '%s'"):format(text)
  end
  return v
end

local function count(text)
  local v = math.tointeger(tonumber(text))
  if not v or v < 0 or v > 100 then return nil, ("--retries must be a whole number from 0 to 100, got '%s'"):format(text) end
  return v
end

--- How to send: --timeout, --retries, --verbose.
-- @param p an argparse parser
function M.transport(p)
  p:option("--timeout", "Seconds one attempt may take (default 30)."):argname("<seconds>"):convert(seconds)
  p:option("--retries", "Retries of a failed idempotent request (GET, PUT, DELETE) on 429, 502, 503, 504 and "
    .. "network errors, with backoff; each is announced on stderr.", "4"):argname("<n>"):convert(count)
  p:flag("-v --verbose", "Print curl's trace of the exchange on stderr (the key masked).")
end

return M
