-- mtproto.pfs: perfect forward secrecy for the client's connections (core.telegram.org/api/pfs).
--
-- With pfs on, a connection never encrypts API traffic under the permanent key of a DC: it
-- makes (or reuses, while valid) a temporary key (p_q_inner_data_temp_dc, expires_in about a
-- day), binds it to the permanent key with auth.bindTempAuthKey (whose binding message the
-- permanent key encrypts; the core builds it) and sends initConnection again over it. The
-- permanent key (made first when missing) only ever signs binding messages, so recording the
-- traffic and later stealing the permanent key does not decrypt it.
--
-- The decisions are the C core's (core.auth.pfs_renew_at, core.auth.pfs_bind_refused): a
-- temporary key is reused until a tenth of its life (at most 10 minutes) before its expiry
-- (server time: the local clock plus the server's offset, never the local clock alone), then
-- replaced; a -404 (the server forgot it) replaces it at once; ENCRYPTED_MESSAGE_INVALID on
-- the bind drops the permanent key too when it is older than a minute or of unknown age (the
-- DC forgot it), else first only the temporary key. This module carries them out.
--
-- The host (mtproto.client) gives: open(dc, opts, deadline) -> core.conn whose key is made |
-- nil, err (opts: auth_key, salt, time_offset, expires_in), await(dc, conn, id, deadline) ->
-- answer bytes | nil, err, close(conn), save(), log(level, fmt, ...), and its data table (dcs[dc]
-- = permanent key, temp_keys[dc] = temporary key with expires_at). `deadline` (a
-- core.conn.monotonic() time: the calling call's) bounds every wait; in an event loop the waits
-- suspend the calling coroutine, else they block.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local errors = require("mtproto.errors")

local M = {}
M.EXPIRES_IN = 86400

-- The server's clock (seconds, with the fraction: a key is replaced in time even when its
-- remaining life is under a second).
local function server_now(time_offset)
  return core.conn.now() + (time_offset or 0)
end

local function random_i64()
  return (("<i8"):unpack(core.crypto.random(8)))
end

-- pfs option -> settings table | nil (off). true or nil: on with the default lifetime.
-- One settings table per lifetime, shared by the clients that use it (read only).
local settings = {}
function M.settings(opt)
  if opt == false then return nil end
  local expires_in = type(opt) == "table" and opt.expires_in or M.EXPIRES_IN
  local t = settings[expires_in]
  if not t then
    t = { expires_in = expires_in }
    settings[expires_in] = t
  end
  return t
end

-- Raises on a bad `pfs` option (true, false or { expires_in = seconds }).
function M.check_option(opt, bad)
  if opt == nil or type(opt) == "boolean" then return end
  local e = type(opt) == "table" and opt.expires_in
  if math.type(e) ~= "integer" or e < 2 or e > 86400 * 365 then
    bad("pfs", "expected true, false or { expires_in = seconds (2..31536000) }")
  end
end

-- Whether the temporary key of `dc` is too close to its expiry to be used any longer.
function M.expiring(host, dc)
  local t = host.data.temp_keys and host.data.temp_keys[dc]
  return not t or core.auth.pfs_renew_at(t.expires_at, host.pfs.expires_in) <= server_now(t.time_offset)
end

-- Forgets the temporary key of `dc` (a -404, an expiry, a refused bind).
function M.drop(host, dc)
  if host.data.temp_keys then host.data.temp_keys[dc] = nil end
end

-- A permanent key for `dc`, made on a connection of its own when missing. `made` (local
-- clock) is known only for keys made by this process.
local function permanent(host, dc, deadline)
  local d = host.data.dcs[dc]
  if d and d.auth_key then return d end
  local c, err = host.open(dc, {}, deadline)
  if not c then return nil, err end
  local st = c:state()
  host.close(c)
  d = { auth_key = st.auth_key, key_id = st.auth_key_id, salt = st.salt or 0, time_offset = st.time_offset or 0,
    made = core.conn.now() }
  host.data.dcs[dc] = d
  host.log("info", "DC %d: new permanent auth key", dc)
  host.save()
  return d
end

-- Makes a temporary key on a new connection and binds it: conn | nil, err.
local function bind_new(host, dc, perm, deadline)
  local c, err = host.open(dc, { expires_in = host.pfs.expires_in }, deadline)
  if not c then return nil, err end
  local st = c:state()
  local expires_at = math.floor(server_now(st.time_offset)) + host.pfs.expires_in
  local id = c:send_bind(perm.auth_key, random_i64(), expires_at)
  local bytes, werr = host.await(dc, c, id, deadline)
  if bytes == nil then
    host.close(c)
    return nil, errors.from_conn(werr, "auth.bindTempAuthKey")
  end
  if tl.decode(bytes) ~= true then
    host.close(c)
    return nil, errors.Error.new{ code = -6, message = "PROTOCOL_ERROR", method = "auth.bindTempAuthKey",
      detail = "the server did not answer boolTrue" }
  end
  st = c:state()
  host.data.temp_keys = host.data.temp_keys or {}
  host.data.temp_keys[dc] = { auth_key = st.auth_key, key_id = st.auth_key_id, salt = st.salt or 0,
    time_offset = st.time_offset or 0, expires_at = expires_at }
  host.log("info", "DC %d: temporary key bound (expires at server time %d)", dc, expires_at)
  host.save()
  return c
end

-- The connection of `dc` over a bound temporary key: conn | nil, err. `deadline` (monotonic;
-- nil: none) bounds it all: the calling call's timeout.
function M.connect(host, dc, deadline)
  local t = host.data.temp_keys and host.data.temp_keys[dc]
  if t and not M.expiring(host, dc) and host.data.dcs[dc] then
    local c = host.open(dc, { auth_key = t.auth_key, salt = t.salt, time_offset = t.time_offset,
      expires_in = host.pfs.expires_in }, deadline)
    if c then return c end
  end
  M.drop(host, dc)
  local attempt, remade = 0, false
  while true do
    local perm, err = permanent(host, dc, deadline)
    if not perm then return nil, err end
    local c
    c, err = bind_new(host, dc, perm, deadline)
    if c then return c end
    if err.message ~= "ENCRYPTED_MESSAGE_INVALID" then return nil, err end
    attempt = attempt + 1
    local age = perm.made and core.conn.now() - perm.made or -1
    local what = core.auth.pfs_bind_refused(age, attempt, remade)
    if what == "give_up" then return nil, err end
    if what == "new_both" then
      host.log("warn", "DC %d: the binding was refused: the DC forgot the permanent key; making a new one", dc)
      host.data.dcs[dc], remade = nil, true
      host.key_replaced(dc)
    else
      host.log("info", "DC %d: the binding was refused: binding a new temporary key", dc)
    end
  end
end

-- The live state of a connection over a temporary key: its salt and clock offset.
function M.sync(host, dc, st)
  local t = host.data.temp_keys and host.data.temp_keys[dc]
  if not t or t.auth_key ~= st.auth_key then return false end
  local changed = t.salt ~= st.salt or t.time_offset ~= st.time_offset
  t.salt, t.time_offset = st.salt or 0, st.time_offset or 0
  return changed
end

return M
