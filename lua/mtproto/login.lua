--- mtproto.login: the login state machine on top of the raw auth.* methods.
--
--   local user = assert(client:login{ phone = "9996611234", code = function(st) return io.read() end })
--
-- or step by step, looking at client:login_state() between the steps:
--
--   client:send_code(phone)          wait_phone_number -> wait_code | wait_email_address |
--                                    wait_email_code | wait_premium_purchase | ready
--   client:sign_in(code)             wait_code / wait_email_code -> ready | wait_registration |
--                                    wait_password (SESSION_PASSWORD_NEEDED)
--   client:check_password(password)  wait_password -> ready
--   client:sign_up(first [, last])   wait_registration -> ready
--   client:set_login_email(email)    wait_email_address -> wait_email_code (email setup)
--   client:verify_login_email(code)  wait_email_code (setup) -> the state of the next sent code
--   client:qr_login([except_ids])    -> wait_other_device | ready; client:wait_login([timeout])
--
-- This module owns the login record: its fields (FIELDS), its text in the session file
-- (encode_record / decode_record, called by mtproto.session_file), its state, and the
-- future auth tokens. It reaches the client only through the `host` table given to new()
-- (call, key_id, save, log, ...); the client tells it every answer through observe().
-- The record is tied to the DC and the id of the auth key that started it, so a later
-- process with the same session file resumes it, and a record made under another key is
-- refused locally (the server would answer PHONE_CODE_EXPIRED). The server's rules are
-- checked before anything is sent; breaking one gives a local mtproto.Error (is_local = true).
-- @module mtproto.login
local tl = require("mtproto.tl")
local errors = require("mtproto.errors")
local session_file = require("mtproto.session_file")   -- its hex helpers (it calls back lazily)
local Error = errors.Error

local M = {}

M.MAX_FUTURE_TOKENS = 20

-- The fields of the login record and how the session file writes them.
local FIELDS = {
  { "state", "word" }, { "dc", "int" }, { "key_id", "int" },
  { "phone", "str" }, { "phone_code_hash", "str" },
  { "type", "tl" }, { "next_type", "tl" }, { "timeout", "int" }, { "deadline_ms", "int" },
  { "apple_signin_allowed", "bool" }, { "google_signin_allowed", "bool" },
  { "email_pattern", "str" }, { "length", "int" },
  { "reset_available_period", "int" }, { "reset_pending_date", "int" }, { "email_setup", "bool" },
  { "hint", "str" }, { "has_recovery", "bool" }, { "email_unconfirmed_pattern", "str" },
  { "recovery_email_pattern", "str" },
  { "terms_of_service", "tl" },
  { "url", "str" }, { "expires", "int" }, { "token", "str" }, { "except_ids", "ints" },
  { "store_product", "str" }, { "currency", "str" }, { "amount", "int" },
  { "support_email_address", "str" }, { "support_email_subject", "str" },
  { "user", "tl" },
}
M.FIELDS = FIELDS

-- What login_state() shows in each state.
local PUBLIC = {
  wait_phone_number = {},
  wait_code = { "phone", "type", "next_type", "timeout" },
  wait_email_address = { "phone", "apple_signin_allowed", "google_signin_allowed" },
  wait_email_code = { "phone", "email_pattern", "length", "reset_available_period", "reset_pending_date",
    "apple_signin_allowed", "google_signin_allowed" },
  wait_password = { "hint", "has_recovery", "email_unconfirmed_pattern", "recovery_email_pattern" },
  wait_registration = { "phone", "terms_of_service" },
  wait_other_device = { "url", "expires" },
  wait_premium_purchase = { "phone", "store_product", "currency", "amount", "support_email_address",
    "support_email_subject" },
  ready = { "user" },
}
M.STATES = PUBLIC

local tohex, fromhex = session_file.tohex, session_file.fromhex

local ENCODE = {
  word = function(v) return tostring(v) end,
  int = function(v) return tostring(math.tointeger(v)) end,
  str = function(v) return tohex(v) end,
  bool = function(v) return v and "1" or "0" end,
  tl = function(v) return tohex(tl.encode(v)) end,
  ints = function(v)
    local out = {}
    for i, n in ipairs(v) do out[i] = tostring(math.tointeger(n)) end
    return #out > 0 and table.concat(out, ",") or "-"
  end,
}
local DECODE = {
  word = function(s) return s:match("^[%w_]+$") end,
  int = function(s) return s:match("^%-?%d+$") and math.tointeger(tonumber(s)) end,
  str = fromhex,
  bool = function(s) if s == "1" then return true elseif s == "0" then return false end end,
  tl = function(s)
    local b = fromhex(s)
    local ok, v = pcall(tl.decode, b or "")
    return b and ok and type(v) == "table" and v or nil
  end,
  ints = function(s)
    local out = {}
    if s == "-" then return out end
    for n in (s .. ","):gmatch("([^,]*),") do
      if not n:match("^%-?%d+$") then return nil end
      out[#out + 1] = math.tointeger(tonumber(n))
    end
    return out
  end,
}

--- The record -> "name=value name=value ..." (the session file's login line).
function M.encode_record(rec)
  local out = {}
  for _, f in ipairs(FIELDS) do
    local v = rec[f[1]]
    if v ~= nil then out[#out + 1] = f[1] .. "=" .. ENCODE[f[2]](v) end
  end
  return table.concat(out, " ")
end

-- The words after "login" -> the record | nil, why.
-- The integer fields that are durations, dates or sizes: never negative, and in the range
-- the server sends them in (int32), except deadline_ms (Unix milliseconds).
local RANGES = {
  timeout = 0x7fffffff, deadline_ms = 2 ^ 53, length = 0x7fffffff, reset_available_period = 0x7fffffff,
  reset_pending_date = 0x7fffffff, expires = 0x7fffffff,
}

local function check_ranges(rec)
  for k, max in pairs(RANGES) do
    local v = rec[k]
    if v ~= nil and (v < 0 or v > max) then return nil, "login field " .. k .. " out of range (" .. v .. ")" end
  end
  return rec
end

function M.decode_record(words)
  if #words > 0 and not words[1]:find("=", 1, true) then
    -- the earlier layout: phone hash dc type next_type timeout deadline_ms key_id (a code login)
    local opt = function(v) if v ~= "-" then return v end end
    local phone, hash, dc, key = fromhex(words[1]), fromhex(words[2] or ""), DECODE.int(words[3] or ""),
      DECODE.int(words[8] or "")
    if #words ~= 8 or not phone or not hash or not dc or not key then return nil, "bad login line" end
    return check_ranges{ state = "wait_code", phone = phone, phone_code_hash = hash, dc = dc, key_id = key,
      type = opt(words[4]) and { _ = words[4] }, next_type = opt(words[5]) and { _ = words[5] },
      timeout = DECODE.int(words[6]), deadline_ms = DECODE.int(words[7]) }
  end
  local kinds = {}
  for _, f in ipairs(FIELDS) do kinds[f[1]] = f[2] end
  local rec = {}
  for _, w in ipairs(words) do
    local k, v = w:match("^([%w_]+)=(.*)$")
    local kind = k and kinds[k]
    if not kind then return nil, "bad login field '" .. w:sub(1, 40) .. "'" end
    local val = DECODE[kind](v)
    if val == nil then return nil, "bad value of login field " .. k end
    rec[k] = val
  end
  if not PUBLIC[rec.state or ""] or not rec.dc or not rec.key_id then return nil, "incomplete login line" end
  return check_ranges(rec)
end

local function local_err(code, message, method, detail, kind)
  return Error.new{ code = code, message = message, method = method, detail = detail, is_local = true,
    kind = kind }
end

local function b64url(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local k = b == nil and 2 or c == nil and 3 or 4
    for j = 1, k do
      local x = (n >> (6 * (4 - j))) & 63
      out[#out + 1] = chars:sub(x + 1, x + 1)
    end
  end
  return table.concat(out)
end
M.b64url = b64url

local function is_login_token_update(u)
  if type(u) ~= "table" then return false end
  if u._ == "updateLoginToken" then return true end
  if u._ == "updateShort" then return is_login_token_update(u.update) end
  if (u._ == "updates" or u._ == "updatesCombined") and type(u.updates) == "table" then
    for _, x in ipairs(u.updates) do
      if is_login_token_update(x) then return true end
    end
  end
  return false
end

local Login = {}
Login.__index = Login

--- host: { call(obj, opts) -> r, err, dc; key_id(dc); save(); log(level, fmt, ...);
--         refused(method) -> err|nil; api() -> api_id, api_hash; set_home_dc(dc);
--         take_update(pred) -> the first pushed update pred accepts (others stay for
--         client:get_updates); wait_update(pred, dc, deadline) -> true | false |
--         "reconnected" | nil, err (waits on the update path of the connection to dc until
--         such an update is there, at the monotonic deadline at most); monotonic(); now();
--         sleep(s); timeout() }
-- data: the session's table (data.login is the record, data.future_auth_tokens the tokens,
--       data.user_id/bot who is signed in).
function M.new(host, data)
  local self = setmetatable({ host = host, data = data }, Login)
  data.future_auth_tokens = data.future_auth_tokens or {}
  local rec = data.login
  if rec and rec.deadline_ms then
    rec.deadline_mono = host.monotonic() + math.max(0, rec.deadline_ms / 1000 - host.now())
  end
  return self
end

function Login:set(rec)
  self.data.login = rec
  return self.host.save()
end

--- A new record for DC `dc`, tied to the key used there now.
function Login:record(state, dc, fields)
  local rec = fields or {}
  rec.state, rec.dc, rec.key_id = state, dc, self.host.key_id(dc) or 0
  return rec
end

--- The record, if it is in one of `states` and may be used with the keys this session has now.
function Login:pending(method, states)
  local bot = self.host.refused(method)
  if bot then return nil, bot end
  local l = self.data.login
  if not l or l.state == "ready" then
    return nil, local_err(400, "LOGIN_NOT_STARTED", method, "this session has no pending login")
  end
  if not states[l.state] then
    local want = {}
    for k in pairs(states) do want[#want + 1] = k end
    table.sort(want)
    return nil, local_err(400, "LOGIN_STATE_INVALID", method, string.format(
      "%s needs the login state %s; the state is %s", method, table.concat(want, " or "), l.state))
  end
  local kid = self.host.key_id(l.dc)
  if kid == nil or kid ~= l.key_id then
    return nil, local_err(400, "LOGIN_KEY_MISMATCH", method, string.format(
      "the login (%s) was started under another auth key on DC %d (the server would answer " ..
      "PHONE_CODE_EXPIRED); start again", l.phone or "QR", l.dc))
  end
  return l
end

--- Calls `method` about the pending login l (its phone, phone_code_hash and DC) with `extra`.
function Login:call_pending(l, method, extra)
  local q = { _ = method, phone_number = l.phone, phone_code_hash = l.phone_code_hash }
  for k, v in pairs(extra or {}) do q[k] = v end
  return self.host.call(q, { dc = l.dc })
end

--- An answer of a step that failed: a dead login is forgotten.
function Login:failed(err)
  if err.kind == "restart_login" then self:set(nil) end
  return nil, err
end

function Login:add_token(tok)
  if type(tok) ~= "string" or tok == "" then return end
  local list = self.data.future_auth_tokens
  for i = #list, 1, -1 do
    if list[i] == tok then table.remove(list, i) end
  end
  list[#list + 1] = tok
  while #list > M.MAX_FUTURE_TOKENS do table.remove(list, 1) end
end

--- What observe(method, r) acts on: the answers named here (an authorization, bare or inside a
-- sentCodeSuccess / loginTokenSuccess, and a sign-up request) and any answer to the methods
-- named here (auth.logOut). The client looks up r._ and the method first, so the answers of
-- every other call (a resendCode's sentCode, say) cost two table look-ups and no call.
M.OBSERVED = { ["auth.authorization"] = true, ["auth.authorizationSignUpRequired"] = true,
  ["auth.sentCodeSuccess"] = true, ["auth.loginTokenSuccess"] = true, ["auth.logOut"] = true }

--- Every successful answer the client got (observe is the client's one call into here).
function Login:observe(method, r)
  if type(r) ~= "table" then return end
  local auth = r
  if r._ == "auth.sentCodeSuccess" or r._ == "auth.loginTokenSuccess" then auth = r.authorization end
  if type(auth) ~= "table" then return end
  local d = self.data
  if auth._ == "auth.authorization" and type(auth.user) == "table" then
    d.user_id = auth.user.id
    d.bot = auth.user.bot and true or method == "auth.importBotAuthorization"
    self:add_token(auth.future_auth_token)
    local l = d.login
    d.login = { state = "ready", user = auth.user, dc = l and l.dc or 0, key_id = l and l.key_id or 0 }
    self.host.log("info", "signed in as %s %s", d.bot and "bot" or "user", tostring(auth.user.id))
    self.host.save()
  elseif auth._ == "auth.authorizationSignUpRequired" and d.login and d.login.phone then
    local l = d.login
    l.state, l.terms_of_service = "wait_registration", auth.terms_of_service
    self.host.save()
  elseif method == "auth.logOut" then
    d.user_id, d.bot, d.login = nil, false, nil
    self:add_token(r.future_auth_token)
    self.host.save()
  end
end

--- login_state(): { state = ..., the fields of that state }.
function Login:state()
  local l = self.data.login
  if not l then
    if self.data.user_id then return { state = "ready", user = { _ = "user", id = self.data.user_id } } end
    return { state = "wait_phone_number" }
  end
  local t = { state = l.state }
  for _, k in ipairs(PUBLIC[l.state]) do t[k] = l[k] end
  return t
end

--- The whole pending record (for session_info; nil once signed in), with `wait`: seconds
-- before a resend is allowed.
function Login:info()
  local l = self.data.login
  if not l or l.state == "ready" then return nil end
  local t = {}
  for _, f in ipairs(FIELDS) do t[f[1]] = l[f[1]] end
  t.wait = l.deadline_mono and math.max(0, l.deadline_mono - self.host.monotonic()) or 0
  return t
end

local function copy_flags(rec, t, names)
  for _, k in ipairs(names) do
    local v = t[k]
    if v ~= nil then rec[k] = v end
  end
end

--- The state an auth.SentCode answer (for `phone` on DC `dc`) leads to.
function Login:sent(phone, dc, r, email_setup)
  local rec
  if r._ == "auth.sentCode" then
    local t = r.type
    local timeout = r.timeout
    rec = self:record("wait_code", dc, { phone = phone, phone_code_hash = r.phone_code_hash, type = t,
      next_type = r.next_type, timeout = timeout })
    if timeout then
      rec.deadline_mono = self.host.monotonic() + timeout
      rec.deadline_ms = math.ceil((self.host.now() + timeout) * 1000)
    end
    if t._ == "auth.sentCodeTypeSetUpEmailRequired" then
      rec.state = "wait_email_address"
      rec.apple_signin_allowed, rec.google_signin_allowed = t.apple_signin_allowed or false,
        t.google_signin_allowed or false
    elseif t._ == "auth.sentCodeTypeEmailCode" then
      rec.state = "wait_email_code"
      rec.apple_signin_allowed, rec.google_signin_allowed = t.apple_signin_allowed or false,
        t.google_signin_allowed or false
      copy_flags(rec, t, { "email_pattern", "length", "reset_available_period", "reset_pending_date" })
    end
    rec.email_setup = email_setup
  elseif r._ == "auth.sentCodePaymentRequired" then
    rec = self:record("wait_premium_purchase", dc, { phone = phone, phone_code_hash = r.phone_code_hash })
    copy_flags(rec, r, { "store_product", "currency", "amount", "support_email_address", "support_email_subject" })
  else
    return r -- auth.sentCodeSuccess: observe() made the state ready
  end
  self:set(rec)
  self.host.log("info", "login: %s (%s) on DC %d", rec.state, rec.type and rec.type._ or r._, dc)
  return r
end

--- SESSION_PASSWORD_NEEDED: fetch the password's parameters, state wait_password.
function Login:need_password(dc, err)
  local pw, perr = self.host.call({ _ = "account.getPassword" }, { dc = dc })
  if not pw then return nil, perr end
  local prev = self.data.login
  local rec = self:record("wait_password", dc, { phone = prev and prev.phone })
  self:password_fields(rec, pw)
  self:set(rec)
  return nil, err
end

function Login:password_fields(rec, pw)
  rec.hint = pw.hint
  rec.has_recovery = pw.has_recovery and true or false
  rec.email_unconfirmed_pattern = pw.email_unconfirmed_pattern
end

local function check_string(v, n, fname, what)
  if type(v) ~= "string" or v == "" then
    error(string.format("bad argument #%d to '%s' (expected %s)", n, fname, what), 3)
  end
end

local function check_api(host, fname)
  local api_id, api_hash = host.api()
  if type(api_hash) ~= "string" then error("mtproto: " .. fname .. " needs api_hash in mtproto.client{...}", 3) end
  return api_id, api_hash
end

--- client:send_code(phone [, settings]) -> auth.SentCode | nil, err
function Login:send_code(phone, settings)
  check_string(phone, 1, "send_code", "a phone number string")
  if settings ~= nil and type(settings) ~= "table" then
    error("bad argument #2 to 'send_code' (expected a codeSettings table)", 2)
  end
  local api_id, api_hash = check_api(self.host, "send_code")
  local q = {}
  for k, v in pairs(settings or {}) do q[k] = v end
  local tokens = self.data.future_auth_tokens
  if q.logout_tokens == nil and #tokens > 0 then q.logout_tokens = { table.unpack(tokens) } end
  local r, err, dc = self.host.call({ _ = "auth.sendCode", phone_number = phone, api_id = api_id,
    api_hash = api_hash, settings = q })
  if r == nil then return nil, err end
  return self:sent(phone, dc, r)
end

local CODE_STATES = { wait_code = true, wait_email_code = true }

--- client:resend_code([reason]) -> auth.SentCode | nil, err
function Login:resend_code(reason)
  if reason ~= nil and type(reason) ~= "string" then
    error("bad argument #1 to 'resend_code' (expected a string or nil)", 2)
  end
  local method = "auth.resendCode"
  local l, perr = self:pending(method, CODE_STATES)
  if not l then return nil, perr end
  if not l.next_type then
    return nil, local_err(406, "SEND_CODE_UNAVAILABLE", method,
      "refused locally: the last auth.sentCode had no next_type")
  end
  if l.deadline_mono then
    local left = l.deadline_mono - self.host.monotonic()
    if left > 0 then
      local n = math.ceil(left)
      return nil, local_err(420, "RESEND_TOO_EARLY_" .. n, method, string.format(
        "wait %d more second%s before asking for another code (the server's timeout was %d s)",
        n, n == 1 and "" or "s", l.timeout or 0))
    end
  end
  local r, err = self:call_pending(l, method, { reason = reason })
  if r == nil then
    if err.type == "SEND_CODE_UNAVAILABLE" then
      l.next_type, l.deadline_mono, l.deadline_ms = nil, nil, nil
      self.host.save()
      return nil, err
    end
    return self:failed(err)
  end
  return self:sent(l.phone, l.dc, r)
end

--- After a step that can sign in: SESSION_PASSWORD_NEEDED moves to wait_password.
function Login:signed(l, r, err)
  if r then return r end
  if err.type == "SESSION_PASSWORD_NEEDED" then return self:need_password(l.dc, err) end
  return self:failed(err)
end

--- client:sign_in(code) -> auth.Authorization | nil, err (the phone code in wait_code, the
-- email code in wait_email_code)
function Login:sign_in(code)
  check_string(code, 1, "sign_in", "the code as a string")
  local method = "auth.signIn"
  local l, perr = self:pending(method, CODE_STATES)
  if not l then return nil, perr end
  if l.state == "wait_email_code" and l.email_setup then return self:verify_login_email(code) end
  local extra = { phone_code = code }
  if l.state == "wait_email_code" then
    extra = { email_verification = { _ = "emailVerificationCode", code = code } }
  end
  local r, err = self:call_pending(l, method, extra)
  return self:signed(l, r, err)
end

local function srp_module()
  local ok, srp = pcall(function() return require("mtproto").srp end)
  if ok and srp then return srp end
  return nil
end

-- srp.check / srp.new_hash results as the client's errors.
local function srp_fail(method, e)
  if errors.is(e) then return nil, e end
  return nil, local_err(400, "SRP_PARAMS_INVALID", method, tostring(e), "final")
end

--- client:check_password(password) -> auth.Authorization | nil, err
function Login:check_password(password)
  if type(password) ~= "string" then error("bad argument #1 to 'check_password' (expected a string)", 2) end
  local method = "auth.checkPassword"
  local l, perr = self:pending(method, { wait_password = true })
  if not l then return nil, perr end
  local srp = srp_module()
  if not srp then return nil, local_err(400, "SRP_UNAVAILABLE", method, "this build has no mtproto.srp") end
  -- a fresh account.getPassword every time: its srp_id is good for one check only
  local pw, err = self.host.call({ _ = "account.getPassword" }, { dc = l.dc })
  if not pw then return nil, err end
  self:password_fields(l, pw)
  self.host.save()
  local input, serr = srp.check(password, pw)
  if not input then return srp_fail(method, serr) end
  local r
  r, err = self.host.call({ _ = method, password = input }, { dc = l.dc })
  return self:signed(l, r, err)
end

--- client:request_password_recovery() -> auth.PasswordRecovery | nil, err
function Login:request_password_recovery()
  local method = "auth.requestPasswordRecovery"
  local l, perr = self:pending(method, { wait_password = true })
  if not l then return nil, perr end
  local r, err = self.host.call({ _ = method }, { dc = l.dc })
  if not r then return nil, err end
  l.recovery_email_pattern = r.email_pattern
  self.host.save()
  return r
end

--- client:recover_password(code [, new_password]) -> auth.Authorization | nil, err
function Login:recover_password(code, new_password)
  check_string(code, 1, "recover_password", "the recovery code as a string")
  if new_password ~= nil and type(new_password) ~= "string" then
    error("bad argument #2 to 'recover_password' (expected a string or nil)", 2)
  end
  local method = "auth.recoverPassword"
  local l, perr = self:pending(method, { wait_password = true })
  if not l then return nil, perr end
  local q = { _ = method, code = code }
  if new_password then
    local srp = srp_module()
    if not srp then return nil, local_err(400, "SRP_UNAVAILABLE", method, "this build has no mtproto.srp") end
    local pw, err = self.host.call({ _ = "account.getPassword" }, { dc = l.dc })
    if not pw then return nil, err end
    local algo, hash = srp.new_hash(new_password, pw.new_algo)
    if not algo then return srp_fail(method, hash) end
    q.new_settings = { _ = "account.passwordInputSettings", new_algo = algo, new_password_hash = hash,
      hint = "" }
  end
  local r, err = self.host.call(q, { dc = l.dc })
  if not r then return nil, err end
  return r
end

--- client:sign_up(first_name [, last_name]) -> auth.Authorization | nil, err
function Login:sign_up(first_name, last_name)
  if type(first_name) ~= "string" then error("bad argument #1 to 'sign_up' (expected a string)", 2) end
  if last_name ~= nil and type(last_name) ~= "string" then
    error("bad argument #2 to 'sign_up' (expected a string or nil)", 2)
  end
  local l, perr = self:pending("auth.signUp", { wait_registration = true })
  if not l then return nil, perr end
  local r, err = self:call_pending(l, "auth.signUp", { first_name = first_name, last_name = last_name or "" })
  return self:signed(l, r, err)
end

-- The purpose of the email verification of this login.
local function setup_purpose(l)
  return { _ = "emailVerifyPurposeLoginSetup", phone_number = l.phone, phone_code_hash = l.phone_code_hash }
end

--- client:set_login_email(email) -> account.SentEmailCode | nil, err
function Login:set_login_email(email)
  check_string(email, 1, "set_login_email", "an email address string")
  local method = "account.sendVerifyEmailCode"
  local l, perr = self:pending(method, { wait_email_address = true })
  if not l then return nil, perr end
  local r, err = self.host.call({ _ = method, purpose = setup_purpose(l), email = email }, { dc = l.dc })
  if not r then return self:failed(err) end
  l.state, l.email_setup = "wait_email_code", true
  l.email_pattern, l.length = r.email_pattern, r.length
  self:set(l)
  return r
end

--- client:verify_login_email(code) -> account.EmailVerified | nil, err
function Login:verify_login_email(code)
  check_string(code, 1, "verify_login_email", "the code as a string")
  local method = "account.verifyEmail"
  local l, perr = self:pending(method, { wait_email_code = true })
  if not l then return nil, perr end
  if not l.email_setup then
    return nil, local_err(400, "LOGIN_STATE_INVALID", method,
      "the email code of this login signs in: use sign_in(code)")
  end
  local r, err = self.host.call({ _ = method, purpose = setup_purpose(l),
    verification = { _ = "emailVerificationCode", code = code } }, { dc = l.dc })
  if not r then return self:failed(err) end
  if r._ == "account.emailVerifiedLogin" then self:sent(l.phone, l.dc, r.sent_code) end
  return r
end

--- client:reset_login_email() -> auth.SentCode | nil, err
function Login:reset_login_email()
  local method = "auth.resetLoginEmail"
  local l, perr = self:pending(method, { wait_email_code = true })
  if not l then return nil, perr end
  local r, err = self:call_pending(l, method)
  if not r then return self:failed(err) end
  return self:sent(l.phone, l.dc, r)
end

--- client:report_missing_code(mnc) -> true | nil, err
function Login:report_missing_code(mnc)
  check_string(mnc, 1, "report_missing_code", "the mobile network code as a string")
  local method = "auth.reportMissingCode"
  local l, perr = self:pending(method, { wait_code = true })
  if not l then return nil, perr end
  return self:call_pending(l, method, { mnc = mnc })
end

--- client:cancel_code() -> true | nil, err
function Login:cancel_code()
  local method = "auth.cancelCode"
  local l, perr = self:pending(method, { wait_code = true, wait_email_code = true,
    wait_email_address = true, wait_registration = true, wait_premium_purchase = true })
  if not l then return nil, perr end
  local r, err = self:call_pending(l, method)
  self:set(nil)
  if r == nil then return nil, err end
  return r
end

--- client:log_out() -> auth.LoggedOut | nil, err (observe() keeps its future_auth_token)
function Login:log_out()
  return self.host.call({ _ = "auth.logOut" })
end

--- client:bot_sign_in(token) -> auth.Authorization | nil, err
function Login:bot_sign_in(token)
  check_string(token, 1, "bot_sign_in", "the bot token string")
  local api_id, api_hash = check_api(self.host, "bot_sign_in")
  return self.host.call({ _ = "auth.importBotAuthorization", flags = 0, api_id = api_id,
    api_hash = api_hash, bot_auth_token = token })
end

--- An auth.LoginToken answer (from DC dc): the state it leads to. Follows one
-- loginTokenMigrateTo with auth.importLoginToken on that DC (the home DC moves there).
function Login:token_answer(r, err, dc, except_ids, migrated)
  if not r then
    if err.type == "SESSION_PASSWORD_NEEDED" then return self:need_password(dc, err) end
    return nil, err
  end
  if r._ == "auth.loginToken" then
    local l = self:record("wait_other_device", dc, { token = r.token, expires = r.expires,
      url = "tg://login?token=" .. b64url(r.token), except_ids = except_ids })
    self:set(l)
    self.exported = l   -- this process will see the updateLoginToken of this export
    return r
  elseif r._ == "auth.loginTokenMigrateTo" and not migrated then
    self.host.log("info", "login: the QR token was accepted by an account on DC %d", r.dc_id)
    self.host.set_home_dc(r.dc_id)
    local r2, err2 = self.host.call({ _ = "auth.importLoginToken", token = r.token }, { dc = r.dc_id })
    return self:token_answer(r2, err2, r.dc_id, except_ids, true)
  elseif r._ == "auth.loginTokenMigrateTo" then
    return nil, Error.new{ code = -6, message = "PROTOCOL_ERROR", method = "auth.importLoginToken",
      detail = "a second loginTokenMigrateTo" }
  end
  return r -- auth.loginTokenSuccess: observe() made the state ready
end

local function check_ids(ids, n, fname)
  if ids == nil then return {} end
  if type(ids) ~= "table" then
    error(string.format("bad argument #%d to '%s' (expected a list of user ids)", n, fname), 3)
  end
  local out = {}
  for i, v in ipairs(ids) do
    if math.type(v) ~= "integer" then
      error(string.format("bad argument #%d to '%s' (item %d is not an integer user id)", n, fname, i), 3)
    end
    out[i] = v
  end
  return out
end

function Login:export(except_ids)
  local api_id, api_hash = check_api(self.host, "qr_login")
  local r, err, dc = self.host.call({ _ = "auth.exportLoginToken", api_id = api_id, api_hash = api_hash,
    except_ids = except_ids })
  return self:token_answer(r, err, dc or self.host.home_dc(), except_ids)
end

--- client:qr_login([except_ids]) -> auth.LoginToken | nil, err
function Login:qr_login(except_ids)
  local ids = check_ids(except_ids, 1, "qr_login")
  local bot = self.host.refused("auth.exportLoginToken")
  if bot then return nil, bot end
  return self:export(ids)
end

--- client:wait_login([timeout]) -> auth.Authorization | nil, err. Waits on the update path
-- for updateLoginToken (it is seen as soon as it arrives), then exports again; re-exports an
-- expired token (the state's url changes) and after a reconnection (a push may have been
-- lost). TIMEOUT when nothing happened within `timeout` seconds.
function Login:wait_login(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("bad argument #1 to 'wait_login' (expected a number of seconds >= 0)", 2)
  end
  local method = "auth.exportLoginToken"
  local l, perr = self:pending(method, { wait_other_device = true })
  if not l then return nil, perr end
  local h = self.host
  local deadline = h.monotonic() + (timeout or h.timeout())
  local missed = false
  while true do
    -- a token exported by another process (a resumed login): its update went to that
    -- process's session, so ask at once
    local got = self.exported ~= l or h.take_update(is_login_token_update) or missed
    if got or h.now() >= (l.expires or 0) then
      local r, err = self:export(l.except_ids or {})
      if not r then return nil, err end
      if r._ ~= "auth.loginToken" then return r.authorization or r end
      l = self.data.login
    end
    if h.monotonic() >= deadline then
      return nil, local_err(-16, "TIMEOUT", method, "the QR code was not accepted in time", "network")
    end
    -- until the token expires at the latest; a second at least (a clock far off the server's
    -- would make every new token look expired)
    local wake = math.min(deadline, h.monotonic() + math.max(1, (l.expires or 0) - h.now()))
    local r, err = h.wait_update(is_login_token_update, l.dc, wake)
    if r == nil then return nil, err end
    missed = r == "reconnected"
  end
end

-- client:login{...}: drives the whole machine. See README (Logging in).
local VALUE_OF = {
  wait_code = "code", wait_email_address = "email", wait_email_code = "email_code",
  wait_password = "password", wait_registration = "first_name",
}
-- Errors after which a callback is asked again (a constant value ends the login).
local ASK_AGAIN = {
  PHONE_CODE_INVALID = true, PASSWORD_HASH_INVALID = true, CODE_INVALID = true, EMAIL_INVALID = true,
  FIRSTNAME_INVALID = true, LASTNAME_INVALID = true, PHONE_CODE_EMPTY = true, EMAIL_CODE_INVALID = true,
}

--- client:login{...} -> the signed-in user, or nil, err: drives the whole login machine.
-- Options: phone, code, email, email_code, password, first_name, last_name (each a string or a
-- function(state) returning one; a function is asked again after a wrong value), qr =
-- function(url, expires) for a QR login, on_state = function(state) called at every step.
function Login:login(o)
  if type(o) ~= "table" then error("bad argument #1 to 'login' (expected a table of options)", 2) end
  for _, k in ipairs { "phone", "code", "password", "email", "email_code", "first_name", "last_name" } do
    local v = o[k]
    if v ~= nil and type(v) ~= "string" and type(v) ~= "function" then
      error("bad argument #1 to 'login' (" .. k .. ": expected a string or a function(state))", 2)
    end
  end
  for _, k in ipairs { "qr", "on_state" } do
    if o[k] ~= nil and type(o[k]) ~= "function" then
      error("bad argument #1 to 'login' (" .. k .. ": expected a function)", 2)
    end
  end
  local last_err, shown_url
  local function value(name, st)
    local v = o[name]
    if v == nil then
      return nil, local_err(400, "LOGIN_INPUT_MISSING", "login", string.format(
        "the login is in state %s and login{} was given no %s", st.state, name), "final")
    end
    if type(v) == "string" then return v end
    st.error = last_err
    local r = v(st)
    if r == nil then
      return nil, local_err(400, "LOGIN_ABORTED", "login", string.format(
        "the %s callback returned nil in state %s", name, st.state), "final")
    end
    if type(r) ~= "string" then
      return nil, local_err(400, "LOGIN_INPUT_MISSING", "login", string.format(
        "the %s callback returned a %s, not a string", name, type(r)), "final")
    end
    return r
  end
  for _ = 1, 100 do
    local st = self:state()
    if o.on_state then o.on_state(st) end
    local s = st.state
    if s == "ready" then return st.user end
    local r, err
    if s == "wait_phone_number" then
      if o.phone ~= nil then
        local phone
        phone, err = value("phone", st)
        if phone then r, err = self:send_code(phone) end
      elseif o.qr then
        r, err = self:qr_login()
      else
        r, err = value("phone", st)
      end
    elseif s == "wait_other_device" then
      if not o.qr then
        return nil, local_err(400, "LOGIN_INPUT_MISSING", "login", "a QR login waits and login{} has no qr callback")
      end
      if st.url ~= shown_url then
        shown_url = st.url
        o.qr(st.url, st.expires)
      end
      r, err = self:wait_login(math.max(1, (st.expires or 0) - self.host.now()))
      if not r and err.type == "TIMEOUT" then r, err = true, nil end
    elseif s == "wait_premium_purchase" then
      return nil, local_err(400, "LOGIN_PAYMENT_REQUIRED", "login", string.format(
        "this number needs a purchase first (%s, %s %s)", tostring(st.store_product), tostring(st.amount),
        tostring(st.currency)), "final")
    else
      local v
      v, err = value(VALUE_OF[s], st)
      if v then
        if s == "wait_code" or s == "wait_email_code" then r, err = self:sign_in(v)
        elseif s == "wait_email_address" then r, err = self:set_login_email(v)
        elseif s == "wait_password" then r, err = self:check_password(v)
        else
          local last
          last, err = nil, nil
          if o.last_name ~= nil then last, err = value("last_name", st) end
          if not err then r, err = self:sign_up(v, last) end
        end
      end
    end
    last_err = err
    if not r and err and err.type ~= "SESSION_PASSWORD_NEEDED" then
      -- a wrong value from a callback is asked for again; a wrong constant ends the login
      local asked = o[VALUE_OF[s] or "phone"]
      if not (ASK_AGAIN[err.type] and type(asked) == "function") then return nil, err end
    end
  end
  return nil, local_err(400, "LOGIN_ABORTED", "login", "no progress after 100 steps", "final")
end

-- The client's methods that are steps of the login (client:name(...) calls Login:name(...)).
M.METHODS = { "send_code", "resend_code", "sign_in", "check_password", "request_password_recovery",
  "recover_password", "sign_up", "set_login_email", "verify_login_email", "reset_login_email",
  "report_missing_code", "cancel_code", "log_out", "bot_sign_in", "qr_login", "wait_login", "login" }

return M
