--- iblai memory-reset: delete the memory of users, store by store, resumable with a journal.
local argparse = require "argparse"
local command = require "iblai.workflows.command"
local Journal = require "iblai.workflows.journal"
local progress = require "iblai.workflows.progress"
local reset = require "iblai.workflows.memory_reset"
local users = require "iblai.workflows.users"

local M = {}

--- The command's parser (also read by `iblai help`, the man page and the completion).
local function parser(prog)
  local p = argparse(prog, "Delete what the API remembers about users: their all-chats memory (chats), "
    .. "ai-prompt memory (prompt), edX memory records (edx), profile memory tags (profile) and ai-mentor "
    .. "memories (mentor). For each user and store every id is collected first, then deleted; a record "
    .. "already gone (404) is not a failure.")
  p:help_max_width(100)
  command.add_options(p)
  p:option("--stores", "Which stores, comma-separated: " .. table.concat(reset.STORES, ",") .. ".",
    table.concat(reset.STORES, ",")):argname("LIST")._complete = reset.STORES -- a list: each item offered
  p:flag("--dry-run", "List, per user and store, what would be deleted; delete nothing.")
  p:option("--journal", "Append each finished (user, store) to FILE; rerun with the same FILE after a crash, "
    .. "Ctrl-C or kill to finish the rest without redoing anything."):argname("FILE")
  p:flag("--yes", "Do not ask before resetting --all users (needed when stdin is not a terminal).")
  p:epilog(([[
The key is read from IBLAI_API_KEY only; IBLAI_BASE_URL and IBLAI_ORG say where.
A (user, store) pair is done only when a fresh listing after its deletes comes back empty; what
is still there is deleted again (up to %d rounds), and a pair not proven empty is reported as failed
with how many items remain, and is not journaled.
Progress goes to stderr; the summary (or, with --json, one object:
{"users": N, "deleted": {"chats": n, ...}, "verified_empty": n, "already_empty": n,
"failed": [{"user", "store", "error", "remaining"}], "resumed": n}) to stdout. deleted counts what
this run deleted; verified_empty, the pairs proven empty; already_empty, those of them that had
nothing to delete; resumed, the pairs the journal had as done. A dry run adds "dry_run": true,
"would_delete" (the counts) and "plan" ([{"user", "store", "ids"}] for each pair with something to
delete). A journal is locked while a run has it: a second run on it is refused.
Exit status: 0 done, 1 something failed (rerun with the same --journal to retry it), 2 usage, 130 Ctrl-C.

Examples:
  iblai memory-reset --user jane --dry-run
  iblai memory-reset --users leavers.txt --stores edx,mentor --journal reset.journal
  iblai memory-reset --all --exclude staff.txt --yes --json > result.json]]):format(reset.PASSES))
  return p
end

local function split_stores(text)
  local list = {}
  for name in text:gmatch("[^,%s]+") do list[#list + 1] = name end
  return list
end

-- Asks on the terminal before an --all reset; true when the answer is yes.
local function confirm(count, org, base_url, stores)
  io.stderr:write(("Reset the memory (%s) of all %d users of org %s at %s? Type yes to go on: "):format(
    table.concat(stores, ","), count, org, base_url))
  io.stderr:flush()
  local answer = io.read("l")
  return answer ~= nil and (answer:lower() == "yes" or answer:lower() == "y")
end

local function total_of(counts)
  local n = 0
  for _, s in ipairs(reset.STORES) do n = n + counts[s] end
  return n
end

local function print_plan(result)
  io.write("dry run: nothing was deleted\n")
  for _, p in ipairs(result.plan) do
    if #p.ids > 0 then
      local shown = {}
      for i = 1, math.min(#p.ids, 10) do shown[i] = tostring(p.ids[i]) end
      local more = #p.ids > 10 and (", ... %d more"):format(#p.ids - 10) or ""
      io.write(("%-30s %-8s %4d  %s%s\n"):format(users.display(p.user), p.store, #p.ids, table.concat(shown, ", "), more))
    end
  end
end

local function print_summary(result, dry_run, journal)
  local counts = dry_run and result.would_delete or result.deleted
  io.write(("%s %d user%s\n"):format(dry_run and "would delete, for" or "deleted, for", result.users,
    result.users == 1 and "" or "s"))
  for _, s in ipairs(reset.STORES) do
    io.write(("  %-8s %7d  %s\n"):format(s, counts[s], reset.STORE[s].title))
  end
  io.write(("  %-8s %7d\n"):format("total", total_of(counts)))
  if not dry_run then
    io.write(("(user, store) pairs proven empty by a fresh listing: %d\n"):format(result.verified_empty))
  end
  io.write(("(user, store) pairs already empty: %d\n"):format(result.already_empty))
  if result.resumed > 0 then io.write(("(user, store) pairs done by an earlier run (journal): %d\n"):format(result.resumed)) end
  if #result.failed > 0 then
    io.write(("failed: %d (user, store) pairs; %s\n"):format(#result.failed,
      journal and "rerun with the same --journal to retry them" or "rerun to retry them (--journal FILE skips what is done)"))
    for _, f in ipairs(result.failed) do io.write(("  %-30s %-8s %s\n"):format(users.display(f.user), f.store, f.error)) end
  end
end

local function to_json(result, dry_run)
  local out = { users = result.users, deleted = result.deleted, verified_empty = result.verified_empty,
    already_empty = result.already_empty, failed = command.array(result.failed), resumed = result.resumed }
  if dry_run then
    out.dry_run, out.would_delete = true, result.would_delete
    local plan = {}
    for _, p in ipairs(result.plan) do
      if #p.ids > 0 then plan[#plan + 1] = { user = p.user, store = p.store, ids = p.ids } end -- what would go
    end
    out.plan = command.array(plan)
  end
  return out
end

M.parser = parser

function M.main(args, prog)
  local opts = command.parse(parser(prog), args, prog)
  if not opts then return 2 end
  local stores, why = reset.check_stores(split_stores(opts.stores))
  if not stores then return command.usage(prog, "--stores: " .. why) end
  if not opts.concurrency or opts.concurrency < 1 then return command.usage(prog, "--concurrency must be 1 or more") end
  local list, exclude = command.who(opts)
  if list == false then return command.usage(prog, exclude) end
  local org, eerr = command.check_env(opts)
  if not org then return command.usage(prog, eerr) end
  if opts.all and not opts.dry_run and not opts.yes and not progress.isatty(0) then
    return command.usage(prog, "--all deletes the memory of every user of the org: pass --yes to confirm "
      .. "when stdin is not a terminal")
  end
  local client, cerr = command.client(opts, org)
  if not client then return command.usage(prog, tostring(cerr)) end
  local journal
  if opts.journal then
    local jerr
    if opts.dry_run then
      journal, jerr = Journal.read(opts.journal, reset.journal_header(client, org)) -- a dry run writes nothing
      journal = journal and { entries = journal }
    else
      journal, jerr = Journal.open(opts.journal, reset.journal_header(client, org))
    end
    if not journal then return command.usage(prog, "--journal: " .. jerr) end
  end

  return command.interruptible(prog, opts.journal and "rerun with the same --journal to finish the rest"
    or "nothing is lost, but only a run with --journal can skip what is done", function()
    if opts.all then
      local err
      list, err = command.everyone(client, org, exclude)
      if not list then return command.fail(prog, err, "cannot list the users of the org: ") end
      if not opts.dry_run and not opts.yes and not confirm(#list, org, client.base_url, stores) then
        io.stderr:write(prog, ": nothing was deleted\n")
        return 1
      end
    end
    local shown = command.progress(opts, opts.dry_run and "memory-reset (dry run)" or "memory-reset",
      #list, function(e) return ("%d items %s"):format(e.deleted, opts.dry_run and "found" or "deleted") end)
    local result, err = reset.run(client, {
      users = list, exclude = exclude, stores = stores, dry_run = opts.dry_run, concurrency = opts.concurrency,
      journal = journal, org = org, on_progress = shown and shown.event,
    })
    if shown then shown.finish() end
    if not result then return command.fail(prog, err) end
    if opts.json then
      command.print_json(to_json(result, opts.dry_run))
    else
      if opts.dry_run then print_plan(result) end
      print_summary(result, opts.dry_run, opts.journal and not opts.dry_run)
    end
    if command.flush(prog) ~= 0 then return 1 end
    return #result.failed > 0 and 1 or 0
  end)
end

return M
