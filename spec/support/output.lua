-- busted output: the usual terminal report, plus the counts written to $IBLAI_COUNTS
-- so tools/test.sh can print the closing "N passed, N failed" line.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.utfTerminal")(options)
  busted.subscribe({ "suite", "end" }, function()
    local path = os.getenv("IBLAI_COUNTS")
    if path then
      local f = assert(io.open(path, "w"))
      f:write(handler.successesCount, " ", handler.failuresCount + handler.errorsCount, "\n")
      f:close()
    end
    return nil, true
  end)
  return handler
end
