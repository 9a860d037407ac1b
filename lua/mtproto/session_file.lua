--- mtproto.session_file: the file a client keeps its auth keys in.
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
--   temp_key 2 <auth_key hex> <key_id> <salt> <time_offset> <expires_at>   (pfs: the bound
--                                       temporary key; expires_at in server time)
--   future_auth_token <hex>             (0..20, oldest first)
--   login state=wait_code dc=2 key_id=<id> phone=<hex> ...   (optional: the login record)
--   updates <pts> <qts> <date> <seq>    (the update state, once there is one)
--   channel <id> <pts|-> <access_hash|-> (one per channel the update state tracks)
--   crc32 <8 hex digits over every byte before this line>
--
-- The login record's fields and their text belong to mtproto.login (encode_record,
-- decode_record); its `deadline_ms` is a wall-clock Unix time in milliseconds (the monotonic
-- clock does not survive the process). A login line of the earlier layout (positional:
-- phone, hash, dc, type, next_type, timeout, deadline_ms, key_id) still loads.
-- Writes are atomic (temp file in the same directory, fsync, rename) with mode
-- 0600. A file that is not ours, of another version, or whose checksum does not
-- match gives a clear error; the caller must then not write over it. A client holds
-- the file through M.open: locked, and never written over if it changed on disk.
--
-- Encrypted files (opt-in: a passphrase, or a 32-byte key): the whole text above, sealed
-- by mtproto.core.seal (scrypt, AES-256-GCM; the layout is in src/mt_seal.h). The key is
-- derived once when the file is opened, kept in a C object and wiped when it is closed; a
-- fresh nonce seals every save. An encrypted file read without a secret is an error
-- (SESSION_ENCRYPTED), never an empty session; a plaintext file opened with a secret is
-- an error too (SESSION_NOT_ENCRYPTED): convert it with M.encrypt. A wrong secret gives
-- SESSION_DECRYPT_FAILED, an altered or truncated file SESSION_CORRUPT; neither touches it.
-- @module mtproto.session_file
local core = require("mtproto.core")
local errors = require("mtproto.errors")

local M = {}
M.MAGIC = "mtproto-lua-session"
M.VERSION = 1
local seal = core.seal

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

--- data -> text
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
  local tids = {}
  for id in pairs(d.temp_keys or {}) do tids[#tids + 1] = id end
  table.sort(tids)
  for _, id in ipairs(tids) do
    local t = d.temp_keys[id]
    out[#out + 1] = string.format("temp_key %d %s %d %d %d %d", id, tohex(t.auth_key), t.key_id or 0,
      t.salt or 0, t.time_offset or 0, t.expires_at)
  end
  for _, tok in ipairs(d.future_auth_tokens or {}) do
    out[#out + 1] = "future_auth_token " .. tohex(tok)
  end
  if d.login then out[#out + 1] = "login " .. require("mtproto.login").encode_record(d.login) end
  local u = d.updates
  if u then out[#out + 1] = string.format("updates %d %d %d %d", u.pts, u.qts or 0, u.date or 0, u.seq or 0) end
  local chans = {}
  for id in pairs(d.channels or {}) do chans[#chans + 1] = id end
  table.sort(chans)
  for _, id in ipairs(chans) do
    local c = d.channels[id]
    out[#out + 1] = string.format("channel %d %s %s", id, c.pts and tostring(c.pts) or "-",
      c.access_hash and tostring(c.access_hash) or "-")
  end
  local body = table.concat(out, "\n") .. "\n"
  return body .. string.format("crc32 %08x\n", crc32(body))
end

local function int(s)
  return s and s:match("^%-?%d+$") and math.tointeger(tonumber(s)) or nil
end

-- What a loaded value may be: a DC id as mtproto.client{} takes it, a clock offset the driver
-- takes (int32 seconds).
M.MAX_DC = 1000
local INT32_MIN, INT32_MAX = -0x80000000, 0x7fffffff
M.MAX_FUTURE_TOKENS = 20

local function within(v, lo, hi) return v ~= nil and v >= lo and v <= hi end

local function flag(key)
  return function(d, f)
    if #f ~= 2 or (f[2] ~= "0" and f[2] ~= "1") then return key .. " must be 0 or 1" end
    d[key] = f[2] == "1"
  end
end

-- One parser per kind of line: (data, words) -> nil | why the line is bad.
local LINES = {
  home_dc = function(d, f)
    local v = int(f[2])
    if #f ~= 2 or not within(v, 1, M.MAX_DC) then return "home_dc must be a DC id 1.." .. M.MAX_DC end
    d.home_dc = v
  end,
  test_mode = flag("test_mode"),
  bot = flag("bot"),
  user_id = function(d, f)
    local v = int(f[2])
    if #f ~= 2 or not v or v <= 0 then return "user_id must be a positive integer" end
    d.user_id = v
  end,
  dc = function(d, f)
    local id, key = int(f[2]), fromhex(f[3] or "")
    local key_id, salt, offset = int(f[4]), int(f[5]), int(f[6])
    if #f ~= 6 or not key or not key_id or not salt or not offset then return "bad dc line" end
    if not within(id, 1, M.MAX_DC) then return "the DC id must be 1.." .. M.MAX_DC end
    if d.dcs[id] then return "DC " .. id .. " appears twice" end
    if #key ~= 256 then return "the auth key must be 256 bytes, not " .. #key end
    if not within(offset, INT32_MIN, INT32_MAX) then return "time_offset out of range (" .. f[6] .. ")" end
    d.dcs[id] = { auth_key = key, key_id = key_id, salt = salt, time_offset = offset }
  end,
  temp_key = function(d, f)
    local id, key = int(f[2]), fromhex(f[3] or "")
    local key_id, salt, offset, exp = int(f[4]), int(f[5]), int(f[6]), int(f[7])
    if #f ~= 7 or not key or not key_id or not salt or not offset or not exp then return "bad temp_key line" end
    if not within(id, 1, M.MAX_DC) then return "the DC id must be 1.." .. M.MAX_DC end
    d.temp_keys = d.temp_keys or {}
    if d.temp_keys[id] then return "the temporary key of DC " .. id .. " appears twice" end
    if #key ~= 256 then return "the auth key must be 256 bytes, not " .. #key end
    if not within(offset, INT32_MIN, INT32_MAX) then return "time_offset out of range (" .. f[6] .. ")" end
    if not within(exp, 0, INT32_MAX) then return "expires_at out of range (" .. f[7] .. ")" end
    d.temp_keys[id] = { auth_key = key, key_id = key_id, salt = salt, time_offset = offset, expires_at = exp }
  end,
  future_auth_token = function(d, f)
    local tok = fromhex(f[2] or "")
    if #f ~= 2 or not tok or tok == "" then return "bad future_auth_token line" end
    d.future_auth_tokens = d.future_auth_tokens or {}
    if #d.future_auth_tokens >= M.MAX_FUTURE_TOKENS then
      return "more than " .. M.MAX_FUTURE_TOKENS .. " future auth tokens"
    end
    table.insert(d.future_auth_tokens, tok)
  end,
  login = function(d, f)
    local rec, why = require("mtproto.login").decode_record({ table.unpack(f, 2) })
    if not rec then return why end
    if not within(rec.dc, 0, M.MAX_DC) then return "the login's DC id must be 0.." .. M.MAX_DC end
    d.login = rec
  end,
  updates = function(d, f)
    local v = { pts = int(f[2]), qts = int(f[3]), date = int(f[4]), seq = int(f[5]) }
    if #f ~= 5 or not (v.pts and v.qts and v.date and v.seq) then return "bad updates line" end
    for _, k in ipairs{ "pts", "qts", "date", "seq" } do
      if not within(v[k], 0, INT32_MAX) then return "updates: " .. k .. " out of range (" .. tostring(v[k]) .. ")" end
    end
    d.updates = v
  end,
  channel = function(d, f)
    local function opt(x) if x == "-" then return nil, true end return int(x), int(x) ~= nil end
    local id = int(f[2])
    local pts, ok1 = opt(f[3] or "")
    local hash, ok2 = opt(f[4] or "")
    if #f ~= 4 or not ok1 or not ok2 then return "bad channel line" end
    if not id or id <= 0 then return "the channel id must be a positive integer" end
    if pts and not within(pts, 0, INT32_MAX) then return "channel pts out of range (" .. f[3] .. ")" end
    d.channels = d.channels or {}
    if d.channels[id] then return "channel " .. id .. " appears twice" end
    d.nchannels = (d.nchannels or 0) + 1
    local max = require("mtproto.updates").MAX_CHANNELS
    if d.nchannels > max then return "more than " .. max .. " channels" end
    d.channels[id] = { pts = pts, access_hash = hash }
  end,
}
-- lines that may appear more than once
local REPEATED = { dc = true, temp_key = true, future_auth_token = true, channel = true }

--- text -> data | nil, err
function M.decode(text, path)
  if type(text) ~= "string" then return nil, ferr("SESSION_FOREIGN", path, "not a session file") end
  -- CRLF line endings (the file went through a Windows editor or transfer): read as LF, the
  -- checksum still decides whether the content is intact
  if text:find("\r\n", 1, true) then text = text:gsub("\r\n", "\n") end
  local first = text:match("^([^\n]*)\n")
  if not first or first:sub(1, #M.MAGIC + 1) ~= M.MAGIC .. " " then
    return nil, ferr("SESSION_FOREIGN", path,
      "not a mtproto-lua session file (no '" .. M.MAGIC .. "' header); refusing to use or overwrite it")
  end
  local vtext = first:sub(#M.MAGIC + 2)
  if int(vtext) ~= M.VERSION then
    return nil, ferr("SESSION_VERSION", path, "session file version " ..
      (int(vtext) and vtext or string.format("%q", vtext)) .. " is not supported (this is version " .. M.VERSION .. ")")
  end
  local body, sum = text:match("^(.*\n)crc32 (%x%x%x%x%x%x%x%x)\n$")
  if not body then
    return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: the checksum line is missing (truncated?)")
  end
  if tonumber(sum, 16) ~= crc32(body) then
    return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: checksum mismatch")
  end
  local d = { dcs = {}, home_dc = 2, test_mode = false, bot = false }
  local n, seen = 0, {}
  for line in body:gmatch("([^\n]*)\n") do
    n = n + 1
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    local k = f[1]
    local why
    -- the header (checked above), an empty line: nothing to check
    if n == 1 or k == nil then -- luacheck: ignore 542
    elseif not LINES[k] then why = "unknown entry '" .. k:sub(1, 40) .. "'"
    elseif seen[k] and not REPEATED[k] then why = "a second '" .. k .. "' line"
    else
      seen[k] = true
      why = LINES[k](d, f)
    end
    if why then return nil, ferr("SESSION_CORRUPT", path, "corrupt session file: line " .. n .. ": " .. why) end
  end
  d.nchannels = nil
  return d
end

-- The largest file taken for a session (a real one is a few KB).
M.MAX_SIZE = 1024 * 1024

local function fresh()
  return { dcs = {}, home_dc = nil, test_mode = nil, bot = false, new = true }
end

-- The text of the file at `path`, false when there is none, or nil, err. Never follows a
-- symbolic link (the atomic rename would replace the link by a regular file, and a link
-- planted in a shared directory could redirect the keys elsewhere) and never opens a FIFO or
-- a device (it could block forever).
local function read(path)
  local text, e = core.file.read(path, M.MAX_SIZE)
  if text ~= nil then return text end
  local msg = e.detail
  if e.message == "FILE_SYMLINK" then
    msg = msg .. ": a session path must name the file itself, not a link (give the link's target)"
  elseif e.message == "FILE_SPECIAL" then
    msg = msg .. ": a session must be a regular file"
  end
  return nil, ferr(e.message == "FILE_TOO_LARGE" and "SESSION_FOREIGN" or "SESSION_IO", nil, msg)
end

-- The secret of an encrypted session, as `session = { path =, passphrase = | key = }` gives
-- it: nil (plaintext), or what went wrong (a message for the caller's argument error).
local SECRET_FIELDS = { path = true, passphrase = true, key = true }
local function secret_error(t)
  for k in pairs(t) do
    if not SECRET_FIELDS[k] then return "unknown field " .. string.format("%q", tostring(k)) ..
      " (expected path, passphrase or key)" end
  end
  if t.passphrase ~= nil and t.key ~= nil then return "give a passphrase or a key, not both" end
  if t.passphrase ~= nil and (type(t.passphrase) ~= "string" or t.passphrase == "") then
    return "passphrase: expected a non-empty string"
  end
  if t.key ~= nil and (type(t.key) ~= "string" or #t.key ~= 32) then
    return "key: expected a string of 32 bytes"
  end
end

--- The `session` option of mtproto.client: a path, or a table { path =, passphrase = } or
-- { path =, key = <32 bytes> }. -> path, secret (nil, or { passphrase = } / { key = }), or
-- nil, why (misuse: the caller raises).
function M.options(v)
  local path, secret = v, nil
  if type(v) == "table" then
    local why = secret_error(v)
    if why then return nil, why end
    path = v.path
    if v.passphrase or v.key then secret = { passphrase = v.passphrase, key = v.key } end
  end
  if type(path) ~= "string" or path == "" or path:find("%z") then return nil, "expected a file name" end
  return path, secret
end

-- secret -> a new seal key for a new file | nil, err
local function new_key(secret)
  local kind = secret.passphrase and "passphrase" or "key"
  local key, e = seal.key(kind, secret.passphrase or secret.key)
  if not key then return nil, ferr("SESSION_IO", nil, "cannot derive the session key: " .. e.detail) end
  return key
end

-- A sealed file that cannot be opened: the message of mtproto.core.seal's error -> the
-- session error's name and detail (nil: the seal error's detail).
local UNSEAL_ERRORS = {
  SEAL_KEY_INVALID = { "SESSION_DECRYPT_FAILED", "wrong passphrase or key for this encrypted session file" },
  SEAL_KIND_MISMATCH = { "SESSION_DECRYPT_FAILED", nil },
  SEAL_ALTERED = { "SESSION_CORRUPT", "corrupt encrypted session file: it was altered or damaged " ..
    "(the authentication tag does not match)" },
  SEAL_TRUNCATED = { "SESSION_CORRUPT", "corrupt encrypted session file: too short (truncated?)" },
  SEAL_FORMAT_INVALID = { "SESSION_CORRUPT", "corrupt encrypted session file: bad header" },
  SEAL_VERSION_UNKNOWN = { "SESSION_VERSION", "encrypted session file of an unsupported format version" },
}

-- The text of a file read from disk -> data, plaintext, seal key (nil when plaintext) | nil, err.
local function unseal(text, path, secret)
  if not seal.is_sealed(text) then
    if #text < #seal.MAGIC and seal.MAGIC:sub(1, #text) == text and text ~= "" then
      return nil, ferr("SESSION_CORRUPT", path, "corrupt encrypted session file: too short (truncated?)")
    end
    if secret then
      local d, err = M.decode(text, path)
      if not d then return nil, err end
      return nil, ferr("SESSION_NOT_ENCRYPTED", path, "the session file is not encrypted but a " ..
        (secret.passphrase and "passphrase" or "key") .. " was given; it was left untouched. Encrypt it " ..
        "first (mtproto.session_file.encrypt, or `mtproto session --encrypt FILE`)")
    end
    local d, err = M.decode(text, path)
    if not d then return nil, err end
    return d, text
  end
  if not secret then
    return nil, ferr("SESSION_ENCRYPTED", path, "the session file is encrypted: give " ..
      "session = { path = ..., passphrase = ... } (or key = ...); it was left untouched")
  end
  local key, plain, serr
  key, serr = seal.key(secret.passphrase and "passphrase" or "key", secret.passphrase or secret.key, text)
  if key then plain, serr = key:open(text) end
  if plain == nil then
    if key then key:close() end
    local e = UNSEAL_ERRORS[serr.message] or { "SESSION_IO", nil }
    return nil, ferr(e[1], path, e[2] or serr.detail)
  end
  local d, err = M.decode(plain, path)
  if not d then
    key:close()
    return nil, err
  end
  return d, plain, key
end

--- path [, secret] -> data (a fresh one when the file does not exist) | nil, err. No lock:
-- see M.open. `secret` is { passphrase = } or { key = } for an encrypted file.
function M.load(path, secret)
  local text, err = read(path)
  if text == nil then return nil, err end
  if text == false then return fresh() end
  local d, plain, key = unseal(text, path, secret)
  if not d then return nil, plain end
  if key then key:close() end
  return d
end

--- Atomic write through core.file.write_atomic: a temp file beside `path` made by mkstemp
-- (mode 0600 from the start, whatever the umask), fsync, rename over `path`, fsync of the
-- directory. A process killed at any moment leaves the old file or the new one; at worst a
-- stale ".<name>.tmp.XXXXXX" (mode 0600), removed by the next M.open. There is no fallback
-- through io.open: it would create the file with the umask's mode.
function M.write_atomic(path, data)
  local r, err = core.file.write_atomic(path, data, tonumber("600", 8))
  if not r then return nil, ferr("SESSION_IO", nil, err.detail) end
  return true
end

--- session_file.save(path, data) -> true, or nil, err: encodes and writes atomically (no lock).
function M.save(path, d)
  return M.write_atomic(path, M.encode(d))
end

-- "dir/name" -> "dir", "name" ("." for a bare name)
local function split(path)
  local dir, name = path:match("^(.*)/([^/]*)$")
  if not dir then return ".", path end
  return dir == "" and "/" or dir, name
end

-- An open session file: what a client holds for as long as it uses the session.
--
-- The lock: an exclusive flock on ".<name>.lock" beside the file, taken without waiting. It is
-- not on the session file itself because every save renames a new file over the name: a lock
-- on the old inode would no longer stop anyone. The lock file is removed on close (the OS
-- drops the flock of a process that dies; its lock file is then reused). A second client on
-- the same file, in this process or another, gets SESSION_LOCKED.
--
-- Conflicts: the text read (or last written) is kept; a save first reads the file again and
-- does not write if it changed (a writer that ignored the lock, or the lock file was removed):
-- SESSION_CONFLICT, and that other writer's state stays on disk.
local Open = {}
Open.__index = Open
Open.__name = "mtproto.session_file"

--- path [, secret] -> open session (.data, .stale_removed: the count of stale temp files
-- removed, .encrypted) | nil, err. `secret`: nil, { passphrase = } or { key = } (see M.options).
function M.open(path, secret)
  local dir, name = split(path)
  if name == "" then return nil, ferr("SESSION_IO", path, "the session path names a directory") end
  local lock, lerr = core.file.lock(dir, "." .. name .. ".lock")
  if not lock then
    if lerr.message == "FILE_LOCKED" then
      return nil, ferr("SESSION_LOCKED", path, "another client (in this process or another) has " ..
        "this session open; one session file serves one client at a time")
    end
    return nil, ferr("SESSION_IO", path, "cannot lock the session: " .. lerr.detail)
  end
  -- Temp files of this session left by writers killed mid-write hold keys: with the lock
  -- held, no writer of this session is alive, so every one of them is stale.
  local removed = core.file.remove_stale(dir, name) or 0
  local text, err = read(path)
  local data, plain, key
  if text then
    data, plain, key = unseal(text, path, secret)
    if not data then err = plain end
  elseif text == false then
    data = fresh()
    if secret then
      key, err = new_key(secret)
      if not key then data = nil end
    end
  end
  if not data then
    lock:close()
    return nil, err
  end
  -- disk: the bytes on disk as read or last written; plain: the text they hold
  return setmetatable({ path = path, data = data, lock = lock, disk = text, plain = plain or text, key = key,
    encrypted = key ~= nil, stale_removed = removed }, Open)
end

--- Writes d unless the file changed on disk since it was read: true | nil, err.
function Open:save(d)
  if not self.lock then error("mtproto: attempt to use a closed session file", 2) end
  local plain = M.encode(d)
  if plain == self.plain then return true end
  local now, err = read(self.path)
  if now == nil then return nil, err end
  if now ~= self.disk then
    return nil, ferr("SESSION_CONFLICT", self.path, (now and "the file changed on disk" or
      "the file was removed") .. " since this client read it (another program wrote it): " ..
      "not overwritten; this client's changes were not saved")
  end
  local text = plain
  if self.key then
    local serr
    text, serr = self.key:seal(plain)
    if not text then return nil, ferr("SESSION_IO", self.path, "cannot encrypt the session: " .. serr.detail) end
  end
  local ok, werr = M.write_atomic(self.path, text)
  if not ok then return nil, werr end
  self.disk, self.plain = text, plain
  return true
end

--- Releases the lock and wipes the key of an encrypted session. Idempotent.
function Open:close()
  if self.key then
    self.key:close()
    self.key = nil
  end
  if self.lock then
    self.lock:close()
    self.lock = nil
  end
end

-- Rewrites an existing session file under its lock: `from` opens it, `to` (a secret, or nil
-- for plaintext) seals what it holds. The text itself is kept byte for byte.
local function convert(path, from, to)
  local f, err = M.open(path, from)
  if not f then return nil, err end
  local ok, werr
  if f.disk == false then
    werr = ferr("SESSION_IO", path, "no such session file")
  else
    local text = f.plain
    if to then
      local key
      key, werr = new_key(to)
      if key then
        text, werr = key:seal(f.plain)
        key:close()
        if not text then werr = ferr("SESSION_IO", path, "cannot encrypt the session: " .. werr.detail) end
      end
    end
    if text then ok, werr = M.write_atomic(path, text) end
  end
  f:close()
  if not ok then return nil, werr end
  return true
end

local function check_secret(secret, fname, arg)
  local why = type(secret) ~= "table" and "expected a table { passphrase = } or { key = }" or secret_error(secret)
  if not why and not (secret.passphrase or secret.key) then why = "expected a passphrase or a key" end
  if why then error("bad argument #" .. arg .. " to '" .. fname .. "' (" .. why .. ")", 3) end
  return { passphrase = secret.passphrase, key = secret.key }
end

--- session_file.encrypt(path, { passphrase = } or { key = }) -> true | nil, err: turns the
-- plaintext session at `path` into an encrypted one (atomically, under its lock; a client
-- using it gets SESSION_LOCKED meanwhile and this gets SESSION_LOCKED while a client holds it).
-- An already encrypted file gives SESSION_ENCRYPTED and is left as it is.
function M.encrypt(path, secret)
  local to = check_secret(secret, "mtproto.session_file.encrypt", 2)
  return convert(path, nil, to)
end

--- session_file.decrypt(path, { passphrase = } or { key = }) -> true | nil, err: turns the
-- encrypted session at `path` back into plaintext (atomically, under its lock).
function M.decrypt(path, secret)
  local from = check_secret(secret, "mtproto.session_file.decrypt", 2)
  return convert(path, from, nil)
end

--- session_file.rekey(path, old, new) -> true | nil, err: the encrypted session at `path`
-- under another passphrase or key (old and new as in M.encrypt).
function M.rekey(path, old, new)
  local from = check_secret(old, "mtproto.session_file.rekey", 2)
  local to = check_secret(new, "mtproto.session_file.rekey", 3)
  return convert(path, from, to)
end

return M
