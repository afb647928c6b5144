--- iblai cohort-report: the engagement report for a date range, as Markdown, CSV, JSON or HTML.
-- Usage errors (a bad date, an unknown format, html without --out, an unwritable --out) exit 2
-- with one line, before any request; a failed call exits 1 after writing the rest of the report.
local argparse = require "argparse"
local cohort_report = require "iblai.workflows.cohort_report"

local M = {}

local NAME = "iblai cohort-report"

-- Renderer module of each --format.
M.FORMATS = {
  md = "iblai.render.markdown", csv = "iblai.render.csv", json = "iblai.render.json", html = "iblai.render.html",
}
local BY_EXTENSION = { md = "md", markdown = "md", csv = "csv", json = "json", html = "html", htm = "html" }

-- Above this many daily periods the tables get long: suggest a coarser aggregation on stderr.
local LONG_DAILY = 400

--- The command's parser (also read by `iblai help`, the man page and the completion).
local function parser(prog)
  local p = argparse(prog, "Active, new, returning, resurrecting and dormant users per period, retention, daily "
    .. "activity, conversations, topics and sentiment for a date range; people are counted from the users listing "
    .. "and the transcripts.")
  p:help_max_width(100)
  p:option("--start", "First day (default: the 30 days up to --end; at most ten years before it).", nil)
    :argname("<YYYY-MM-DD>")
  p:option("--end", "Last day, included (default: today, UTC).", nil):argname("<YYYY-MM-DD>")
  p:option("--aggregation", "Periods of the tables and charts: daily, weekly (Monday to Sunday) or monthly.", "daily")
    :argname("<period>")
  p:option("--mentor", "Only conversations with this mentor count as activity; registrations and sentiment stay "
    .. "org-wide.")
    :argname("<mentor_id>")
  p:option("--format", "md, csv, json or html (default: from the --out extension, else md).")
    ._complete = { "md", "csv", "json", "html" } -- offered by the completion, checked below
  p:option("--out", "Write to FILE (replaced atomically) instead of standard output; html needs it."):argname("<FILE>")
  p:option("--base-url", "Overrides IBLAI_BASE_URL (default " .. require("iblai.cli.args").DEFAULT_BASE_URL .. ")."):argname("<url>")
  p:option("--org", "Overrides IBLAI_ORG.")
  p:option("--username --user", "The username the analytics paths name (their {user_id}); overrides IBLAI_USERNAME.")
  p:epilog([[
The report: active, new and returning users and registrations over the range, with their change
against the days before; per period, the lifecycle (new, returning, resurrecting, dormant); the
retention triangle of each registration period; daily active users; conversations and messages
per session; top topics; sentiment; the API's org overview. Its notes define every term. Any call
that fails is named in the report, which shows the rest.

Examples:
  iblai cohort-report --start 2026-10-01 --end 2026-11-24 --aggregation weekly
  iblai cohort-report --start 2026-01-01 --end 2026-06-30 --aggregation monthly --out report.html
  iblai cohort-report --format json | jq '.totals'

Exit status: 0 ok; 1 some calls failed or answered figures no count can be (the report says
which and shows the rest, marking such figures); 2 usage.
The key is read from IBLAI_API_KEY only, so it never shows in the process list.]])
  return p
end

local function usage_error(message)
  io.stderr:write(NAME, ": ", message, "\n")
  return 2
end

local function extension(path)
  return path and path:match("%.([%w]+)$") and path:match("%.([%w]+)$"):lower()
end

-- Opens a temporary file beside `out`, so the final rename stays on one file system; proves
-- before any request that the report can be written there. An existing `out` must be writable
-- by this user too (a rename alone would replace a file the user may not write).
local function open_out(out)
  local existing, why = io.open(out, "r+")
  if existing then
    existing:close()
  elseif not why:find("No such file", 1, true) then
    return nil, ("cannot write --out %s"):format(why)
  end
  local tmp = ("%s.%d.tmp"):format(out, math.random(1, 1 << 30))
  local f, err = io.open(tmp, "wb")
  if not f then
    if err:find("No such file", 1, true) then err = "its directory does not exist" else err = err:gsub("^.*: ", "") end
    return nil, ("cannot write --out %s: %s"):format(out, err)
  end
  return f, tmp
end

local function write_out(f, tmp, out, text)
  local ok, err = f:write(text)
  if ok then ok, err = f:close() else f:close() end
  if ok then ok, err = os.rename(tmp, out) end
  if not ok then
    os.remove(tmp)
    return nil, err
  end
  return true
end

M.parser = parser

--- Runs the command.
-- @param args the arguments after the command name
-- @param prog the program name for usage lines
-- @return exit status: 0 ok, 1 some calls failed, 2 usage
function M.main(args, prog)
  local p = parser(prog or NAME)
  local ok, opts = p:pparse(args)
  if not ok then return usage_error(opts .. " (" .. (prog or NAME) .. " --help tells more)") end

  local fmt = opts.format or BY_EXTENSION[extension(opts.out) or ""] or "md"
  if not M.FORMATS[fmt] then
    return usage_error(("unknown --format '%s' (md, csv, json or html)"):format(fmt))
  end
  local o, msg = cohort_report.check {
    start = opts.start, ["end"] = opts["end"], aggregation = opts.aggregation, mentor = opts.mentor,
  }
  if not o then return usage_error("--" .. msg) end
  if fmt == "html" and not opts.out then
    return usage_error("--format html needs --out FILE (one self-contained page)")
  end

  local client, err = require("iblai").from_env { base_url = opts.base_url, org = opts.org, username = opts.username }
  if not client then
    io.stderr:write(tostring(err), "\n")
    return 1
  end
  if not client.org or not client.username then
    client:close()
    return usage_error("the analytics paths need an org and a user: set IBLAI_ORG and IBLAI_USERNAME "
      .. "(or --org and --username)")
  end
  if (os.getenv("IBLAI_API_KEY") or "") == "" then
    client:close()
    return usage_error("set IBLAI_API_KEY: every analytics call needs the key")
  end

  local file, tmp
  if opts.out then
    file, tmp = open_out(opts.out)
    if not file then
      client:close()
      return usage_error(tmp)
    end
  end
  if o.aggregation == "daily" and o.last - o.first + 1 > LONG_DAILY then
    io.stderr:write(("%s: %d daily periods; --aggregation weekly or monthly reads better\n"):format(
      NAME, o.last - o.first + 1))
  end

  -- Whatever happens (Ctrl-C included), no temporary file is left behind.
  local done, text_or_err, report = pcall(function()
    local data = assert(cohort_report.run(client, o))
    return require(M.FORMATS[fmt]).render(data), data
  end)
  client:close()
  if not done then
    if file then
      file:close()
      os.remove(tmp)
    end
    error(text_or_err, 0)
  end

  if file then
    local wrote, werr = write_out(file, tmp, opts.out, text_or_err)
    if not wrote then
      io.stderr:write(NAME, ": cannot write ", opts.out, ": ", tostring(werr), "\n")
      return 1
    end
    io.stderr:write(("%s: wrote %s (%s, %d bytes)\n"):format(NAME, opts.out, fmt, #text_or_err))
  else
    io.write(text_or_err)
    io.stdout:flush()
  end
  if #report.errors > 0 then
    local count = { failed = 0, figures = 0, records = 0 }
    for _, e in ipairs(report.errors) do count[e.kind] = count[e.kind] + 1 end
    if count.failed > 0 then
      io.stderr:write(("%s: %d of the report's calls failed; the report shows the rest\n"):format(NAME, count.failed))
    end
    if count.figures > 0 then
      io.stderr:write(("%s: %d of the API's answers held figures it should not send; the report marks them\n"):format(
        NAME, count.figures))
    end
    if count.records > 0 then
      io.stderr:write(("%s: %d of the API's answers held records the report cannot place; the report says how it "
        .. "counted them\n"):format(NAME, count.records))
    end
    for _, e in ipairs(report.errors) do io.stderr:write("  ", e.call, ": ", e.message, "\n") end
    return 1
  end
  return 0
end

return M
