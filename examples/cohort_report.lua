-- The cohort report from a script: gather it once, then print what matters and save it as HTML.
-- iblai examples/cohort_report.lua [START END [OUT.html]]   (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG, IBLAI_USERNAME)
local cohort_report = require "iblai.workflows.cohort_report"
local html = require "iblai.render.html"

local client <close> = assert(iblai.from_env())
local report = assert(cohort_report.run(client, {
  start = arg[1] or "2026-09-01", ["end"] = arg[2] or "2026-11-24", aggregation = "weekly",
}))

print(("%s to %s: %d new, %d returning, %d conversations"):format(report.range.start, report.range["end"],
  report.totals.new_users or 0, report.totals.veteran_users or 0, report.totals.conversations or 0))
for _, p in ipairs(report.periods) do
  local bar = ("#"):rep(p.new_users or 0) .. ("="):rep(p.veteran_users or 0)
  print(("  week of %s  %3s new %3s returning  %s"):format(p.start, p.new_users or "?", p.veteran_users or "?", bar))
end
for i = 1, math.min(3, #report.topics) do
  print(("  topic %d: %s (%d conversations)"):format(i, report.topics[i].name, report.topics[i].conversations))
end
for _, e in ipairs(report.errors) do io.stderr:write("missing: ", e.message, "\n") end

if arg[3] then
  local f = assert(io.open(arg[3], "w"))
  f:write(html.render(report))
  f:close()
  print("wrote " .. arg[3])
end
