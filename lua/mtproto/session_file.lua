-- mtproto.session_file: the file a client keeps its auth keys in.
--
-- A versioned line-based text format; every value is a decimal integer, a
-- bare word, or hex (strings, keys), so no quoting is needed:
--
--   mtproto-lua-session 1
--   home_dc 2
--   test_mode 0
--   bot 0
--   user_id 123456                      (optional)
--   dc 2 <auth_key hex> <key_id> <salt> <time_offset>
--   future_auth_token <hex>             (0..20, oldest first)
--   login state=wait_code dc=2 key_id=<id> phone=<hex> ...   (optional: the login record)
--   crc32 <8 hex digits over every byte before this line>
--
-- The login record's fields and their text belong to mtproto.login (encode_record,
-- decode_record); its `deadline_ms` is a wall-clock Unix time in milliseconds (the monotonic
-- clock does not survive the process). A login line of the earlier layout (positional:
-- phone, hash, dc, type, next_type, timeout, deadline_ms, key_id) still loads.
-- Writes are atomic (temp file in the same directory, fsync, rename) with mode
-- 0600. A file that is not ours, of another version, or whose checksum does not
-- match gives a clear error; the caller must then not write over it.
local errors = require("mtproto.errors")

local M = {}
M.MAGIC = "mtproto-lua-session"
M.VERSION = 1

-- zlib's CRC32, through the codec (tl.crc32), so the file format needs no Lua copy of it.
local crc32 = require("mtproto.tl").crc32
M.crc32 = crc32

local function tohex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local function fromhex(h)
  if #h % 2 ~= 0 or h:find("[^0-9a-fA-F]") then return nil end
  return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end
M.tohex, M.fromhex = tohex, fromhex

local function ferr(message, path, detail)
  return errors.Error.new{ code = 0, message = message, is_local = true, kind = "final",
    detail = (path and (path .. ": ") or "") .. detail }
end

-- data -> text
function M.encode(d)
  local out = { M.MAGIC .. " " .. M.VERSION }
  out[#out + 1] = "home_dc " .. math.tointeger(d.home_dc or 2)
  out[#out + 1] = "test_mode " .. (d.test_mode and 1 or 0)
  out[#out + 1] = "bot " .. (d.bot and 1 or 0)
  if d.user_id then out[#out + 1] = "user_id " .. math.tointeger(d.user_id) end
  local ids = {}
  for id in pairs(d.dcs or {}) do ids[#ids + 1] = id end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local s = d.dcs[id]
    if s.auth_key then
      out[#out + 1] = string.format("dc %d %s %d %d %d", id, tohex(s.auth_key),
        s.key_id or 0, s.salt or 0, s.time_offset or 0)
    end
  end
  for _, tok in ipairs(d.future_auth_tokens or {}) do
    out[#out + 1] = "future_auth_token " .. tohex(tok)
  end
  if d.login then out[#out + 1] = "login " .. require("mtproto.login").encode_record(d.login) end
  local body = table.concat(out, "\n") .. "\n"
  return body .. string.format("crc32 %08x\n", crc32(body))
end

local function int(s)
  return s and s:match("^%-?%d+$") and math.tointeger(tonumber(s)) or nil
end

-- text -> data | nil, err
function M.decode(text, path)
  if type(text) ~= "string" then return nil, ferr("SESSION_FOREIGN", path, "not a session file") end
  local first = text:match("^([^\n]*)\n")
  if not first or first:sub(1, #M.MAGIC + 1) ~= M.MAGIC .. " " then
    return nil, ferr("SESSION_FOREIGN", path,
      "not a mtproto-lua session file (no '" .. M.MAGIC .. "' header); refusing to use or overwrite it")
  end
  local ver = int(first:sub(#M.MAGIC + 2))
  if ver ~= M.VERSION then
    return nil, ferr("SESSION_VERSION", path, "session file version " .. tostring(first:sub(#M.MAGIC + 2)) ..
      " is not supported (this is version " .. M.VERSION .. ")")
  end
  local body, sum = text:match("^(.*\n)crc32 (%x%x%x%x%x%x%x%x)\n$")
  if not body then
    return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: the checksum line is missing (truncated?)")
  end
  if tonumber(sum, 16) ~= crc32(body) then
    return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: checksum mismatch")
  end
  local d = { dcs = {}, home_dc = 2, test_mode = false, bot = false }
  local n = 0
  for line in body:gmatch("([^\n]*)\n") do
    n = n + 1
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    local k = f[1]
    local function bad(why)
      return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: line " .. n .. ": " .. why)
    end
    if n == 1 then -- the header, checked above
    elseif k == "home_dc" and #f == 2 and int(f[2]) then d.home_dc = int(f[2])
    elseif k == "test_mode" and #f == 2 then d.test_mode = f[2] == "1"
    elseif k == "bot" and #f == 2 then d.bot = f[2] == "1"
    elseif k == "user_id" and #f == 2 and int(f[2]) then d.user_id = int(f[2])
    elseif k == "dc" then
      local id, key = int(f[2]), fromhex(f[3] or "")
      if #f ~= 6 or not id or not key or #key ~= 256 or not (int(f[4]) and int(f[5]) and int(f[6])) then
        return bad("bad dc line")
      end
      d.dcs[id] = { auth_key = key, key_id = int(f[4]), salt = int(f[5]), time_offset = int(f[6]) }
    elseif k == "future_auth_token" then
      local tok = fromhex(f[2] or "")
      if #f ~= 2 or not tok or tok == "" then return bad("bad future_auth_token line") end
      d.future_auth_tokens = d.future_auth_tokens or {}
      table.insert(d.future_auth_tokens, tok)
    elseif k == "login" then
      local rec, why = require("mtproto.login").decode_record({ table.unpack(f, 2) })
      if not rec then return bad(why) end
      d.login = rec
    elseif k ~= nil then
      return bad("unknown entry '" .. k .. "'")
    end
  end
  return d
end

-- path -> data (a fresh one when the file does not exist) | nil, err
function M.load(path)
  local f, msg, errno = io.open(path, "rb")
  if not f then
    if errno == 2 then return { dcs = {}, home_dc = nil, test_mode = nil, bot = false, new = true } end
    return nil, ferr("SESSION_IO", nil, msg)
  end
  local text = f:read("a")
  f:close()
  if not text then return nil, ferr("SESSION_IO", path, "cannot read") end
  return M.decode(text, path)
end

-- Atomic write through core.conn.write_file_atomic: a temp file beside `path` made by
-- mkstemp (mode 0600 from the start, whatever the umask), fsync, rename over `path`, fsync of
-- the directory. A process killed at any moment leaves the old file or the new one; at worst
-- a stale ".<name>.tmp.XXXXXX" (mode 0600) that a later save does not need. There is no
-- fallback through io.open: it would create the file with the umask's mode.
function M.write_atomic(path, data)
  local core = require("mtproto.core")
  local r, err = core.conn.write_file_atomic(path, data, tonumber("600", 8))
  if not r then return nil, ferr("SESSION_IO", path, tostring(type(err) == "table" and err.detail or err)) end
  return true
end

function M.save(path, d)
  return M.write_atomic(path, M.encode(d))
end

return M
