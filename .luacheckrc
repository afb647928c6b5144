std = "lua54"
max_line_length = 140
self = false
files["spec"] = { std = "+busted" }
files["lua/iblai/cli/init.lua"] = { globals = { "arg", "iblai" } }
files["examples"] = { read_globals = { "iblai" } }
files["bench"] = { read_globals = { "iblai" } }
exclude_files = { "build/**", "node_modules/**" }
-- Generated one operation per line (make regen).
files["lua/iblai/operations"] = { max_line_length = false }
