-- mtproto.login: the login helper on top of the raw auth.* methods.
--
--   local sent = assert(client:send_code("9996621234"))
--   local again, err = client:resend_code()   -- enforced: next_type present, timeout passed
--   local auth = assert(client:sign_in("22222"))
--
-- The pending login (phone, phone_code_hash, DC, type, next_type, the deadline of
-- `timeout` on the monotonic clock) is kept in the session, tied to the id of
-- the auth key that asked for the code, so a later process can resume it. The
-- server's rules are checked before anything is sent; breaking one gives a local
-- mtproto.Error (is_local = true) and no round trip.
local core = require("mtproto.core")
local errors = require("mtproto.errors")
local Error = errors.Error

local M = {}

local function local_err(code, message, method, detail)
  return Error.new{ code = code, message = message, method = method, detail = detail, is_local = true }
end

function M.install(Client, I)
  local S = I.S

  local function key_id(s, dc)
    if s.conns[dc] then I.sync(s, dc) end
    local d = s.data.dcs[dc]
    return d and d.key_id
  end

  -- The pending login, if it may be used with the keys this session has now.
  local function pending(s, method)
    local bot = I.refused(s, method)
    if bot then return nil, bot end
    local l = s.login
    if not l then
      return nil, local_err(400, "LOGIN_NOT_STARTED", method,
        "this session has no pending login")
    end
    local kid = key_id(s, l.dc)
    if kid == nil or kid ~= l.key_id then
      return nil, local_err(400, "LOGIN_KEY_MISMATCH", method, string.format(
        "the code for %s was asked for under another auth key on DC %d (the server would answer " ..
        "PHONE_CODE_EXPIRED); call send_code again", l.phone, l.dc))
    end
    return l
  end

  local function remember(s, phone, dc, r)
    local t = r.timeout
    s.login = {
      phone = phone, phone_code_hash = r.phone_code_hash, dc = dc,
      type = type(r.type) == "table" and r.type._ or nil,
      next_type = type(r.next_type) == "table" and r.next_type._ or nil,
      timeout = t, key_id = key_id(s, dc),
      deadline_mono = t and I.monotonic() + t or nil,
      deadline_wall = t and core.conn.now() + t or nil,
    }
    I.save(s)
  end

  local function forget(s)
    s.login = nil
    I.save(s)
  end

  -- Calls `method` about the pending login l (its phone, phone_code_hash and DC) with the
  -- fields of `extra`. A tail call, so error levels count as if the method called I.call.
  local function call_pending(s, l, method, extra)
    local q = { _ = method, phone_number = l.phone, phone_code_hash = l.phone_code_hash }
    for k, v in pairs(extra or {}) do q[k] = v end
    return I.call(s, q, { dc = l.dc }, 2)
  end

  -- client:send_code(phone [, settings]) -> auth.SentCode | nil, err
  function Client:send_code(phone, settings)
    local s = S(self)
    if type(phone) ~= "string" or phone == "" then
      error("bad argument #1 to 'send_code' (expected a phone number string)", 2)
    end
    if settings ~= nil and type(settings) ~= "table" then
      error("bad argument #2 to 'send_code' (expected a codeSettings table)", 2)
    end
    if type(s.api_hash) ~= "string" then
      error("mtproto: send_code needs api_hash in mtproto.client{...}", 2)
    end
    local r, err, dc = I.call(s, { _ = "auth.sendCode", phone_number = phone, api_id = s.api_id,
      api_hash = s.api_hash, settings = settings or {} }, nil, 2)
    if r == nil then return nil, err end
    if r._ == "auth.sentCode" then
      remember(s, phone, dc, r)
      I.log(s, "info", "login: code sent (%s) from DC %d", tostring(s.login.type), dc)
    end
    return r
  end

  -- client:resend_code([reason]) -> auth.SentCode | nil, err
  function Client:resend_code(reason)
    local s = S(self)
    if reason ~= nil and type(reason) ~= "string" then
      error("bad argument #1 to 'resend_code' (expected a string or nil)", 2)
    end
    local method = "auth.resendCode"
    local l, perr = pending(s, method)
    if not l then return nil, perr end
    if not l.next_type then
      return nil, local_err(406, "SEND_CODE_UNAVAILABLE", method,
        "refused locally: the last auth.sentCode had no next_type")
    end
    if l.deadline_mono then
      local left = l.deadline_mono - I.monotonic()
      if left > 0 then
        local n = math.ceil(left)
        return nil, local_err(420, "RESEND_TOO_EARLY_" .. n, method, string.format(
          "wait %d more second%s before asking for another code (the server's timeout was %d s)",
          n, n == 1 and "" or "s", l.timeout or 0))
      end
    end
    local r, err = call_pending(s, l, method, { reason = reason })
    if r == nil then
      if err.type == "SEND_CODE_UNAVAILABLE" then
        l.next_type, l.deadline_mono, l.deadline_wall = nil, nil, nil
        I.save(s)
      elseif err.kind == "restart_login" then
        forget(s)
      end
      return nil, err
    end
    if r._ == "auth.sentCode" then remember(s, l.phone, l.dc, r) end
    return r
  end

  -- client:sign_in(code) -> auth.Authorization | nil, err
  function Client:sign_in(code)
    local s = S(self)
    if type(code) ~= "string" or code == "" then
      error("bad argument #1 to 'sign_in' (expected the code as a string)", 2)
    end
    local method = "auth.signIn"
    local l, perr = pending(s, method)
    if not l then return nil, perr end
    local r, err = call_pending(s, l, method, { phone_code = code })
    if r == nil then
      if err.kind == "restart_login" then forget(s) end
      return nil, err
    end
    return r
  end

  -- client:cancel_code() -> true | nil, err
  function Client:cancel_code()
    local s = S(self)
    local method = "auth.cancelCode"
    local l, perr = pending(s, method)
    if not l then return nil, perr end
    local r, err = call_pending(s, l, method)
    forget(s)
    if r == nil then return nil, err end
    return r
  end

  -- client:bot_sign_in(token) -> auth.Authorization | nil, err
  function Client:bot_sign_in(token)
    local s = S(self)
    if type(token) ~= "string" or token == "" then
      error("bad argument #1 to 'bot_sign_in' (expected the bot token string)", 2)
    end
    if type(s.api_hash) ~= "string" then
      error("mtproto: bot_sign_in needs api_hash in mtproto.client{...}", 2)
    end
    local r, err = I.call(s, { _ = "auth.importBotAuthorization", flags = 0, api_id = s.api_id,
      api_hash = s.api_hash, bot_auth_token = token }, nil, 2)
    return r, err
  end
end

return M
