--- What the workflow commands (iblai memory-reset, iblai export-chats) share: who to work on,
-- the client from the environment, one-line usage errors, the progress line, Ctrl-C.
-- @module iblai.workflows.command
local json = require "iblai.json"
local progress = require "iblai.workflows.progress"
local users = require "iblai.workflows.users"

local M = {}

--- The options every workflow command takes (who, how many at once, output, connection).
-- @param p an argparse parser
function M.add_options(p)
  p:option("--user", "A username (repeat for more)."):count("*"):argname("U")
  p:option("--users", "A file of usernames, one a line, # starts a comment; - reads standard input.")
    :argname("FILE")
  p:flag("--all", "Every user of the org (from the org's users listing).")
  p:option("--exclude", "A file of usernames to leave out (same format as --users)."):argname("FILE")
  p:option("--concurrency", "Requests in flight at once (1 sends one at a time).", "8"):convert(math.tointeger)
    :argname("N")
  p:flag("--json", "Print the result as one JSON object on stdout instead of a table.")
  p:flag("--quiet", "No progress line on stderr.")
  p:option("--base-url", "Overrides IBLAI_BASE_URL."):argname("URL")
  p:option("--org", "Overrides IBLAI_ORG."):argname("ORG")
end

--- Prints one usage line on stderr.
-- @param prog string e.g. "iblai memory-reset"
-- @param message string
-- @return 2, the usage exit status
function M.usage(prog, message)
  message = tostring(message):gsub("%s*\n%s*", "; ")
  io.stderr:write(("%s: %s (%s --help tells more)\n"):format(prog, message, prog))
  return 2
end

--- Parses the arguments; a mistake gives one line on stderr and nil (exit 2).
-- @param p an argparse parser
-- @param args list of strings
-- @param prog string
-- @return the options, or nil
function M.parse(p, args, prog)
  local ok, opts = p:pparse(args)
  if ok then return opts end
  M.usage(prog, opts)
  return nil
end

--- The usernames asked for, minus the excluded ones.
-- From --user or --users FILE, or nothing yet for --all; --exclude takes some out.
-- @param opts the parsed options
-- @return a list (nil for --all: listed later, once there is a client) and the exclude list;
--   or false and a one-line message
function M.who(opts)
  local given = #opts.user > 0 or opts.users ~= nil
  if opts.all and given then return false, "give --all or --user/--users, not both" end
  if not opts.all and not given then return false, "say whose: --user U, --users FILE or --all" end
  local exclude = {}
  if opts.exclude then
    if opts.exclude == "-" and opts.users == "-" then return false, "--users and --exclude cannot both read stdin" end
    local list, why = users.read(opts.exclude)
    if not list then return false, why end
    exclude = list
  end
  if opts.all then return nil, exclude end
  for _, name in ipairs(opts.user) do
    local ok, why = users.check(name)
    if not ok then return false, "--user: " .. why end
  end
  local from_file = {}
  if opts.users then
    local list, why = users.read(opts.users)
    if not list then return false, why end
    if #list == 0 then
      return false, ("%s holds no usernames (one a line; # starts a comment)"):format(
        opts.users == "-" and "stdin" or opts.users)
    end
    from_file = list
  end
  return users.select({ opts.user, from_file }), exclude
end

--- Checks what the client needs from the environment, before anything is sent.
-- @param opts the parsed options (--org)
-- @return the org, or nil and a one-line message
function M.check_env(opts)
  local key = os.getenv("IBLAI_API_KEY")
  if key == nil or key == "" then return nil, "IBLAI_API_KEY is not set (the key is read from there only)" end
  local org = opts.org or os.getenv("IBLAI_ORG")
  if org == nil or org == "" then return nil, "no org: set IBLAI_ORG or pass --org" end
  return org
end

--- The client, from IBLAI_* and the command's overrides.
-- @param opts the parsed options (--base-url, --concurrency)
-- @param org string
-- @return the client, or nil and an Error
function M.client(opts, org)
  return require("iblai").from_env { base_url = opts.base_url, org = org, concurrency = opts.concurrency }
end

--- Every username of the org, minus the excluded ones (for the option all).
-- @param client an iblai client
-- @param org string
-- @param exclude list of usernames
-- @return the list, or nil and an Error
function M.everyone(client, org, exclude)
  local list, err = users.of_org(client, org)
  if not list then return nil, err end
  return users.select({ list }, exclude)
end

--- A progress reporter for on_progress events of kind "user" (nil when quiet).
-- @param opts the parsed options (--quiet)
-- @param label string
-- @param total integer users
-- @param detail function(event) -> string, the middle part of the line
-- @return { event = function(event), finish = function() }, or nil
function M.progress(opts, label, total, detail)
  if opts.quiet then return nil end
  local bar = progress.new { label = label, total = total, tty = progress.isatty(2) }
  return {
    event = function(e)
      if e.type == "user" then bar:update(e.done, detail(e)) end
    end,
    finish = function() bar:finish() end,
  }
end

--- Runs fn(); when Ctrl-C stops it, says how to go on and returns 130 (the exit status).
-- @param prog string
-- @param advice string what a rerun does
-- @param fn function, called with the remaining arguments
-- @param ... its arguments
-- @return what fn returns, or 130 after Ctrl-C; any other error is raised again
function M.interruptible(prog, advice, fn, ...)
  local ok, a, b = pcall(fn, ...)
  if ok then return a, b end
  if type(a) == "string" and a:find("interrupted!", 1, true) then
    io.stderr:write(("\n%s: interrupted; %s\n"):format(prog, advice))
    return 130
  end
  error(a, 0)
end

--- A list for JSON output: an empty one is written as [].
-- @param list a Lua list
-- @return the list, or iblai.json.empty_array when it is empty
function M.array(list)
  return #list == 0 and json.empty_array or list
end

--- Says on stderr that the run failed: the error in one line, without a second "iblai: ".
-- @param prog string
-- @param err an Error or a message
-- @param what string (optional) what failed, put before the error
-- @return 1, the failure exit status
function M.fail(prog, err, what)
  io.stderr:write(prog, ": ", what or "", (tostring(err):gsub("^iblai: ", "")), "\n")
  return 1
end

--- Flushes stdout; a result that could not be written (a full disk, a closed pipe) is a failure.
-- @param prog string
-- @return 0, or 1 after saying so on stderr
function M.flush(prog)
  local ok, err = io.stdout:flush()
  if ok then return 0 end
  io.stderr:write(("%s: cannot write the result to stdout: %s\n"):format(prog, tostring(err)))
  return 1
end

--- Writes one JSON object and a newline to stdout.
-- @param value a JSON-encodable table
function M.print_json(value)
  io.write(assert(json.encode(value)), "\n")
end

return M
