-- An LDoc filter (`ldoc --filter ldoc_items.list .`, run by LDoc's own Lua): prints one line per
-- documented item, "module<TAB>name<TAB>param,param,...", for tools/check-docs.lua.
local M = {}

function M.list(modules)
  for _, m in ipairs(modules) do
    for _, item in ipairs(m.items) do
      local params = {}
      for _, p in ipairs(item.params or {}) do params[#params + 1] = p end
      io.write(m.name, "\t", item.name, "\t", table.concat(params, ","), "\n")
    end
  end
end

return M
