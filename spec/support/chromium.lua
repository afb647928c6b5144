-- Headless Chromium for the HTML report's specs: screenshots, A4 PDFs, and the pixels of a PDF
-- page through pdftoppm (binary PPM, read here without any image library).
local M = {}

local FLAGS = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
  .. "--disable-component-update --disable-sync --hide-scrollbars"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function which(name)
  local p = io.popen("command -v " .. name .. " 2>/dev/null")
  local path = p:read("l")
  p:close()
  return path ~= "" and path or nil
end

--- The Chromium program, or nil when it is not installed.
function M.find()
  return which("chromium") or which("chromium-browser")
end

--- True when pdftoppm and pdfinfo (poppler-utils) are installed.
function M.has_poppler()
  return which("pdftoppm") ~= nil and which("pdfinfo") ~= nil
end

local function run(browser, args)
  local profile = os.tmpname()
  os.remove(profile)
  local cmd = ("%s %s --user-data-dir=%s %s >/dev/null 2>&1"):format(quote(browser), FLAGS, quote(profile), args)
  local ok = os.execute(cmd)
  os.execute("rm -rf " .. quote(profile))
  return ok
end

--- Screenshot of a local HTML file at a window size; returns the PNG's bytes.
function M.screenshot(browser, html, png, width, height)
  run(browser, ("--window-size=%d,%d --screenshot=%s %s"):format(width, height, quote(png),
    quote("file://" .. html)))
  local f = io.open(png, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- Prints a local HTML file to PDF as Chromium's print would (the page's @page size).
function M.pdf(browser, html, pdf)
  run(browser, ("--no-pdf-header-footer --print-to-pdf=%s %s"):format(quote(pdf), quote("file://" .. html)))
  local f = io.open(pdf, "rb")
  if f then f:close() end
  return f ~= nil
end

--- pdfinfo's fields: pages and the page size in points.
function M.pdf_info(pdf)
  local p = io.popen("pdfinfo " .. quote(pdf) .. " 2>/dev/null")
  local text = p:read("a")
  p:close()
  local w, h = text:match("Page size:%s+([%d.]+) x ([%d.]+) pts")
  return { pages = tonumber(text:match("Pages:%s+(%d+)")), width = tonumber(w), height = tonumber(h) }
end

--- Page `page` of a PDF as pixels: { width, height, rgb = string of 3 bytes a pixel }.
function M.pdf_page_pixels(pdf, page, dpi)
  local base = os.tmpname()
  os.execute(("pdftoppm -r %d -f %d -l %d -singlefile %s %s"):format(dpi, page, page, quote(pdf), quote(base)))
  os.remove(base)
  local f = io.open(base .. ".ppm", "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  os.remove(base .. ".ppm")
  -- Binary PPM: "P6", width, height, maxval (255), one whitespace byte, then the pixels.
  local w, h, at = data:match("^P6%s+(%d+)%s+(%d+)%s+255%s()")
  if not w then return nil end
  return { width = tonumber(w), height = tonumber(h), rgb = data:sub(at) }
end

--- Counts pixels within `tolerance` (per channel) of each named colour ("#rrggbb").
-- Every 2nd pixel is read, which is plenty to tell a chart from a blank page.
function M.count_colours(img, colours, tolerance)
  local targets = {}
  for name, hex in pairs(colours) do
    targets[#targets + 1] = { name = name, tonumber(hex:sub(2, 3), 16), tonumber(hex:sub(4, 5), 16),
      tonumber(hex:sub(6, 7), 16) }
  end
  local counts, distinct, seen = {}, 0, {}
  for _, t in ipairs(targets) do counts[t.name] = 0 end
  local rgb, tol = img.rgb, tolerance or 12
  for i = 1, #rgb - 2, 6 do
    local r, g, b = rgb:byte(i, i + 2)
    local key = r * 65536 + g * 256 + b
    if not seen[key] then seen[key], distinct = true, distinct + 1 end
    for _, t in ipairs(targets) do
      if math.abs(r - t[1]) <= tol and math.abs(g - t[2]) <= tol and math.abs(b - t[3]) <= tol then
        counts[t.name] = counts[t.name] + 1
      end
    end
  end
  return counts, distinct
end

return M
