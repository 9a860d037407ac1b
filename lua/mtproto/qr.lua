--- QR codes of login links, drawn in a terminal.
--
-- Needs the optional C module `mtproto.qrencode` (built where Debian's `libqrencode-dev` is
-- installed); `require("mtproto.qr")` raises when it is missing, so callers `pcall` it and
-- print the link instead.
-- @module mtproto.qr
local qrencode = require("mtproto.qrencode")

local M = {}

--- The modules of the QR code of `text`.
-- @tparam string text the link
-- @treturn table rows: `rows[y][x]` is true for a dark module (1-based, no quiet zone)
-- @treturn[2] nil
-- @treturn[2] string why it could not be encoded
function M.matrix(text)
  local size, bits = qrencode.encode(text)
  if not size then return nil, bits end
  local rows = {}
  for y = 1, size do
    local row = {}
    for x = 1, size do row[x] = bits:byte((y - 1) * size + x) == 49 end
    rows[y] = row
  end
  return rows
end

--- The QR code of `text` as lines of text for a terminal: two module rows per line (Unicode
-- half blocks), dark modules drawn as spaces on a light background so that it scans on dark
-- and light terminals alike, with the 4-module quiet zone the standard asks for.
-- @tparam string text the link
-- @treturn string the drawing (lines joined by "\n")
-- @treturn[2] nil
-- @treturn[2] string why it could not be encoded
function M.terminal(text)
  local rows, err = M.matrix(text)
  if not rows then return nil, err end
  local size, quiet = #rows, 4
  local function light(x, y)
    local row = rows[y - quiet]
    return not (row and row[x - quiet])
  end
  local lines = {}
  for y = 1, size + 2 * quiet, 2 do
    local line = {}
    for x = 1, size + 2 * quiet do
      local top, bottom = light(x, y), light(x, y + 1)
      line[#line + 1] = (top and bottom) and "\u{2588}" or top and "\u{2580}" or bottom and "\u{2584}" or " "
    end
    lines[#lines + 1] = table.concat(line)
  end
  return table.concat(lines, "\n")
end

return M
