--- The client of a command that talks to the API: IBLAI_* with the command line's overrides,
-- retries announced on stderr, a missing key caught before anything is sent, and failures told
-- in one line with what to do next.
local args = require "iblai.cli.args"

local M = {}

--- Whether a base URL points at this machine (the sandbox, a tunnel), where a key is optional.
-- @param origin string "scheme://host:port" (client.session:origin())
function M.is_local(origin)
  local host = (origin or ""):match("^%a[%w+.-]*://(.-):%d+$") or ""
  host = host:lower()
  return host == "localhost" or host:sub(-10) == ".localhost" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
    or host == "[::1]" or host == "0.0.0.0"
end

local function has_key()
  local key = os.getenv("IBLAI_API_KEY")
  return key ~= nil and key ~= ""
end
M.has_key = has_key

-- The advice of an Error in the words of the command line (the Lua API speaks of its fields).
local IN_CLI_WORDS = {
  { "err%.body says which field", "-i shows its whole answer" },
  { "report it with err%.body if", "report it with its answer (-i shows it) if" },
  { "err%.body holds its start", "--raw prints it as it came" },
  { "raise timeout", "raise --timeout" },
  { "raise retries", "raise --retries" },
  { "raise max_response_bytes or ask", "ask" },
  { "larger than max_response_bytes", "larger than the client accepts" },
  { "fix the client options or the request", "fix the command line" },
  { "check that base_url %(IBLAI_BASE_URL%)", "check that IBLAI_BASE_URL (or --base-url)" },
  { "check base_url", "check IBLAI_BASE_URL (or --base-url)" },
  { "option 'api_key'", "IBLAI_API_KEY" },
  { "option 'base_url'", "the base URL (IBLAI_BASE_URL or --base-url)" },
  { "pass the key as api_key", "the key goes in IBLAI_API_KEY" },
}

-- What the server said and the URL are never reworded: in an HTTP error only the advice is, the
-- text after the last "); " (the URL has no blanks).
local function in_cli_words(text, from_server)
  local at = 0
  if from_server then
    if text:sub(-1) == ")" then return text end -- no advice after the URL
    for i in text:gmatch("()%); ") do at = i + 3 end
  end
  local advice = text:sub(at > 0 and at or 1)
  for _, pair in ipairs(IN_CLI_WORDS) do advice = advice:gsub(pair[1], pair[2]) end
  return (at > 0 and text:sub(1, at - 1) or "") .. advice
end

--- Creates the client, or says why not on stderr.
-- @param prog string e.g. "iblai call"
-- @param opts the parsed options: base_url, org, username, timeout, retries, verbose
-- @param sending boolean: a request will go out (a dry run needs no key)
-- @return the client, or nil and the exit status (2: nothing was sent)
function M.client(prog, opts, sending)
  local retries = opts.retries
  local client, err = require("iblai").from_env {
    base_url = opts.base_url, org = opts.org, username = opts.username, timeout = opts.timeout, retries = retries,
    verbose = opts.verbose or nil,
    log = function(e)
      if e.event == "retry" then
        io.stderr:write(("%s: retrying in %.1f s after %s (%d of %d)\n"):format(prog, e.delay, e.reason, e.attempt,
          retries or 4))
      end
    end,
  }
  if not client then
    local text = tostring(err):gsub("^iblai: ", ""):gsub("; fix the client options.*$", "")
    return nil, args.usage(prog, in_cli_words(text))
  end
  if sending and not has_key() and not M.is_local(client.session:origin()) then
    client:close()
    io.stderr:write(("%s: IBLAI_API_KEY is not set: export IBLAI_API_KEY=<your key> to call %s "
      .. "(or try it on a local iblai sandbox); nothing was sent\n"):format(prog, client.base_url))
    return nil, 2
  end
  return client
end

--- One line for an Error: what happened and what to do next, in the command line's words.
-- @param client the client (for the base URL), or nil
-- @param err an Error or a message
-- @return string
function M.describe(client, err)
  local text = in_cli_words((tostring(err):gsub("^iblai: ", "")), type(err) == "table" and err.kind == "http")
  if type(err) == "table" and err.kind == "http" and err.status == 404 and client
    and not M.is_local(client.session:origin()) and not client.base_url:find("/dm$") then
    -- the public gateway serves the API under /dm; a base URL without it answers 404 everywhere
    text = text .. ("; IBLAI_BASE_URL is %s: the public API is under /dm (the default is %s)"):format(
      client.base_url, args.DEFAULT_BASE_URL)
  end
  return text
end

--- Says on stderr why the command failed and returns its exit status: 2 when the request was
-- refused before sending (a validation or option problem), 1 otherwise.
-- @param prog string
-- @param client the client, or nil
-- @param err an Error or a message
function M.fail(prog, client, err)
  io.stderr:write(prog, ": ", M.describe(client, err), "\n")
  local kind = type(err) == "table" and err.kind
  return (kind == "validation" or kind == "config") and 2 or 1
end

return M
