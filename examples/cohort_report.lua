-- The cohort report from a script: gather it once, then print what matters and save it as HTML.
-- iblai examples/cohort_report.lua [START END [OUT.html]]   (IBLAI_BASE_URL, IBLAI_API_KEY, IBLAI_ORG, IBLAI_USERNAME)
local cohort_report = require "iblai.workflows.cohort_report"
local html = require "iblai.render.html"

local client <close> = assert(iblai.from_env())
local report = assert(cohort_report.run(client, {
  start = arg[1] or "2026-09-01", ["end"] = arg[2] or "2026-11-24", aggregation = "weekly",
}))

local t = report.totals
print(("%s to %s: %s active: %s new, %s returning; %s conversations"):format(report.range.start,
  report.range["end"], t.active_users or "?", t.new_users or "?", t.returning_users or "?", t.conversations or "?"))
-- Each week's people: new (#), returning (=), resurrecting (+); dormant ones (-) left.
for _, p in ipairs(report.periods) do
  local bar = ("#"):rep(p.new_users or 0) .. ("="):rep(p.returning_users or 0) .. ("+"):rep(p.resurrecting_users or 0)
  print(("  week of %s  %3s active %3s dormant  %s%s"):format(p.start, p.active_users or "?", p.dormant_users or "?",
    bar, ("-"):rep(p.dormant_users or 0)))
end
for i = 1, math.min(3, #report.topics) do
  print(("  topic %d: %s (%s conversations)"):format(i, report.topics[i].name, report.topics[i].conversations))
end
for _, e in ipairs(report.errors) do io.stderr:write("missing: ", e.message, "\n") end

if arg[3] then
  local f = assert(io.open(arg[3], "w"))
  f:write(html.render(report))
  f:close()
  print("wrote " .. arg[3])
end
