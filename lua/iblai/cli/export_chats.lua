--- iblai export-chats: export users' chat history, one file each, resumable by rerunning.
local argparse = require "argparse"
local command = require "iblai.workflows.command"
local export = require "iblai.workflows.chat_export"
local files = require "iblai.workflows.files"

local M = {}

--- The command's parser (also read by `iblai help`, the man page and the completion).
local function parser(prog)
  local p = argparse(prog, "Export the chat history of users: start an export task per user, poll it with "
    .. "growing intervals until the history is ready, and write it to DIR/<username>.json (or .csv): the "
    .. "server's bytes as they came, streamed to disk. Files are written whole or not at all; a user whose "
    .. "file exists is skipped, so a rerun finishes the rest.")
  p:help_max_width(100)
  command.add_options(p)
  p:option("--out", "The directory for the files (created when missing)."):argname("DIR")
  p:option("--format", "json or csv.", "json"):choices { "json", "csv" }
  p:flag("--force", "Export again users whose file already exists.")
  p:option("--deadline", "Seconds a user's export may take before it is reported as timed out.", "600")
    :convert(tonumber):argname("SECONDS")
  p:option("--poll-initial", "Seconds between the first polls; each wait is 1.5 times the one before.", "1")
    :convert(tonumber):argname("SECONDS")
  p:option("--poll-max", "The longest wait between two polls.", "15"):convert(tonumber):argname("SECONDS")
  p:epilog([[
--concurrency is also how many users are exported at once. The key is read from IBLAI_API_KEY only.
Progress goes to stderr; the summary (or, with --json, one object: {"users": N, "exported": n,
"skipped": n, "timed_out": [usernames], "failed": [{"user", "error"}], "out": DIR}) to stdout.
A username that cannot be a file name as it is has its other characters written as %XX
(a/b -> a%2Fb.json).
Exit status: 0 done, 1 a user failed or timed out (rerun to retry those), 2 usage, 130 Ctrl-C.

Examples:
  iblai export-chats --user jane --out exports
  iblai export-chats --all --format csv --out exports --concurrency 16 --deadline 300]])
  return p
end

local function print_summary(result)
  io.write(("exported %d of %d users to %s"):format(result.exported, result.users, result.out))
  if result.skipped > 0 then io.write(("; %d skipped (their file exists; --force exports them again)"):format(result.skipped)) end
  io.write("\n")
  if #result.timed_out > 0 then
    io.write(("timed out: %d (their task was not ready before --deadline; rerun to try again)\n"):format(#result.timed_out))
    for _, u in ipairs(result.timed_out) do io.write("  ", u, "\n") end
  end
  if #result.failed > 0 then
    io.write(("failed: %d\n"):format(#result.failed))
    for _, f in ipairs(result.failed) do io.write(("  %-30s %s\n"):format(f.user, f.error)) end
  end
end

M.parser = parser

-- The run itself, once --out exists; returns the exit status.
local function export_into(opts, prog, org, list, exclude)
  local client, cerr = command.client(opts, org)
  if not client then return command.usage(prog, tostring(cerr)) end

  return command.interruptible(prog, "the files written are complete; rerun to export the rest", function()
    if opts.all then
      local err
      list, err = command.everyone(client, org, exclude)
      if not list then return command.fail(prog, err, "cannot list the users of the org: ") end
    end
    local shown = command.progress(opts, "export-chats", #list, function(e) return ("%d exported"):format(e.exported) end)
    local result, err = export.run(client, {
      users = list, exclude = exclude, out = opts.out, format = opts.format, force = opts.force, org = org,
      concurrency = opts.concurrency, deadline = opts.deadline, poll_initial = opts.poll_initial,
      poll_max = opts.poll_max, on_progress = shown and shown.event,
    })
    if shown then shown.finish() end
    if not result then return command.fail(prog, err) end
    if opts.json then
      command.print_json { users = result.users, exported = result.exported, skipped = result.skipped,
        timed_out = command.array(result.timed_out), failed = command.array(result.failed), out = result.out }
    else
      print_summary(result)
    end
    if command.flush(prog) ~= 0 then return 1 end
    return (#result.failed > 0 or #result.timed_out > 0) and 1 or 0
  end)
end

function M.main(args, prog)
  local opts = command.parse(parser(prog), args, prog)
  if not opts then return 2 end
  if not opts.out then return command.usage(prog, "--out DIR is required") end
  if not opts.concurrency or opts.concurrency < 1 then return command.usage(prog, "--concurrency must be 1 or more") end
  for _, name in ipairs { "deadline", "poll_initial", "poll_max" } do
    local v = opts[name]
    if not v or v ~= v or v == math.huge or v < 0 or (name ~= "deadline" and v == 0) then
      return command.usage(prog, ("--%s must be a number of seconds%s"):format(name:gsub("_", "-"),
        name == "deadline" and "" or " above 0"))
    end
  end
  if opts.poll_max < opts.poll_initial then return command.usage(prog, "--poll-max must be at least --poll-initial") end
  local list, exclude = command.who(opts)
  if list == false then return command.usage(prog, exclude) end
  local org, eerr = command.check_env(opts)
  if not org then return command.usage(prog, eerr) end
  local writable, created = files.writable_dir(opts.out)
  if not writable then return command.usage(prog, "--out: " .. created) end
  local code = export_into(opts, prog, org, list, exclude)
  if #created > 0 and files.remove_created(created) then -- a run that wrote nothing leaves no empty --out
    io.stderr:write(("%s: nothing was written, so %s (made by this run) was removed\n"):format(prog, opts.out))
  end
  return code
end

return M
