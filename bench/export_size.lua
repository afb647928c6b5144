-- A sandbox route script for make bench: every ready chat-history export holds about
-- IBLAI_BENCH_EXPORT_BYTES bytes (the user's history, then generated messages).
local sandbox = ...
sandbox.model.export_size = assert(tonumber(os.getenv("IBLAI_BENCH_EXPORT_BYTES")), "set IBLAI_BENCH_EXPORT_BYTES")
