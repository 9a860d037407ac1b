--- mtproto.errors: the error object every failure of the client comes back as.
--
-- An error carries the server's (or the driver's) `code` and `message`, plus what
-- a script needs to react without looking anything up over the network:
--   type         the message without its numeric suffix ("FLOOD_WAIT")
--   value        that suffix as an integer (30), or nil
--   method       the TL method the call was for ("auth.resendCode"), or nil
--   description  an offline English text for known errors, or nil
--   detail       extra text from the driver or the client, or nil
--   kind         "retry" (wait `retry_after` seconds, then repeat), "migrate"
--                (repeat on DC `value`), "restart_login" (ask for a new code),
--                "network" (transport/timeout: repeat or reconnect), "final"
--   is_local     true when the client refused the call before any round trip
-- @module mtproto.errors
local M = {}

local Error = { __name = "mtproto.Error" }
Error.__index = Error
M.Error = Error

-- Descriptions, keyed by type (the message without a numeric suffix).
local descriptions = {
  -- auth.resendCode and the login
  PHONE_CODE_EXPIRED = "the code has expired (for example it was forwarded to a chat); "
    .. "ask for a new one with auth.sendCode",
  PHONE_CODE_HASH_EMPTY = "phone_code_hash is missing or empty",
  PHONE_NUMBER_INVALID = "the phone number is invalid",
  SEND_CODE_UNAVAILABLE = "no more ways to send the code: every way of sending it has been used already",
  PHONE_CODE_INVALID = "the code is wrong",
  PHONE_CODE_EMPTY = "the code is missing",
  PHONE_NUMBER_UNOCCUPIED = "the phone number is not registered yet: sign up first",
  PHONE_NUMBER_OCCUPIED = "the phone number is already registered",
  PHONE_NUMBER_BANNED = "the phone number is banned from Telegram",
  PHONE_NUMBER_FLOOD = "too many codes were asked for this number lately; try again later",
  PHONE_NUMBER_APP_SIGNUP_FORBIDDEN = "this application cannot sign up new users",
  PHONE_PASSWORD_FLOOD = "too many login attempts; try again later",
  SESSION_PASSWORD_NEEDED = "two-step verification is on: the account password is needed (auth.checkPassword)",
  PASSWORD_HASH_INVALID = "the password is wrong",
  -- two-step verification (SRP) and password recovery
  SRP_ID_INVALID = "the srp_id was used already or has expired: call account.getPassword again for a new one",
  SRP_PASSWORD_CHANGED = "the password was changed since account.getPassword: get the new parameters and try again",
  PASSWORD_RECOVERY_NA = "password recovery is not available: no recovery email is set up, "
    .. "or no code was asked for (auth.requestPasswordRecovery)",
  PASSWORD_RECOVERY_EXPIRED = "the recovery code has expired: ask for a new one",
  PASSWORD_EMPTY = "the password is empty",
  PASSWORD_MISSING = "the account has no cloud password",
  NEW_SALT_INVALID = "the new salt1 must be the server's salt1 followed by random bytes",
  NEW_SETTINGS_INVALID = "the new password settings are invalid",
  EMAIL_UNCONFIRMED = "the recovery email is not confirmed yet",
  FIRSTNAME_INVALID = "the first name is invalid",
  LASTNAME_INVALID = "the last name is invalid",
  API_ID_INVALID = "api_id/api_hash is invalid",
  API_ID_PUBLISHED_FLOOD = "this api_id was published somewhere and cannot be used now",
  ACCESS_TOKEN_INVALID = "the bot token is invalid",
  ACCESS_TOKEN_EXPIRED = "the bot token has been revoked",
  BOT_METHOD_INVALID = "bots cannot use this method (the login-code methods are for user accounts)",
  USER_ALREADY_AUTHORIZED = "this session is already signed in",
  -- the email steps, QR login and the other login states
  EMAIL_INVALID = "the email address is invalid",
  CODE_INVALID = "the code is wrong (the email verification code or the password recovery code)",
  EMAIL_CODE_INVALID = "the code sent to the login email is wrong",
  EMAIL_NOT_SETUP = "this login has no login email set up for this step",
  EMAIL_SETUP_REQUIRED = "a login email must be set up first (account.sendVerifyEmailCode, account.verifyEmail)",
  EMAIL_VERIFICATION_INVALID = "this kind of email verification is not accepted here",
  EMAIL_VERIFY_PURPOSE_INVALID = "this email verification purpose is not accepted here",
  AUTH_TOKEN_INVALID = "the QR login token is invalid",
  AUTH_TOKEN_EXPIRED = "the QR login token has expired: export a new one",
  AUTH_TOKEN_ALREADY_ACCEPTED = "the QR login token was already accepted",
  -- answers every method can get
  FLOOD_WAIT = "too many requests: wait the given number of seconds, then repeat",
  FLOOD_PREMIUM_WAIT = "too many requests: wait the given number of seconds, then repeat",
  SLOWMODE_WAIT = "slow mode is on in this chat: wait the given number of seconds",
  TAKEOUT_INIT_DELAY = "wait the given number of seconds before starting a takeout session",
  PHONE_MIGRATE = "this phone number is served by another DC: repeat on DC N",
  NETWORK_MIGRATE = "this IP is served by another DC: repeat on DC N",
  USER_MIGRATE = "this account lives on another DC: repeat on DC N",
  FILE_MIGRATE = "the file lives on another DC: repeat on DC N",
  STATS_MIGRATE = "the statistics live on another DC: repeat on DC N",
  AUTH_KEY_UNREGISTERED = "the auth key is not signed in: log in first",
  AUTH_KEY_INVALID = "the auth key is invalid",
  AUTH_KEY_PERM_EMPTY = "a permanent auth key is needed for this method",
  AUTH_KEY_DUPLICATED = "the same auth key was used from two places at once; create a new one",
  SESSION_REVOKED = "the session was terminated (logged out from another device)",
  SESSION_EXPIRED = "the session has expired: log in again",
  USER_DEACTIVATED = "the account was deleted or deactivated",
  USER_DEACTIVATED_BAN = "the account was banned",
  AUTH_RESTART = "the login must be restarted from auth.sendCode",
  METHOD_INVALID = "the server does not know this method",
  INPUT_METHOD_INVALID = "the server does not know this method",
  CONNECTION_NOT_INITED = "the connection was not initialised with initConnection",
  CONNECTION_LAYER_INVALID = "the layer given to invokeWithLayer is invalid",
  INTERNAL = "internal server error; repeat later",
  -- local failures of the driver (negative codes)
  TIMEOUT = "no answer before the deadline",
  CONNECTION_CLOSED = "the server closed the connection",
  NETWORK_ERROR = "the connection failed",
  TRANSPORT_ERROR = "the server answered with a transport error "
    .. "(404: auth key unknown, 429: too many connections, 444: invalid DC)",
  PROTOCOL_ERROR = "the server broke the protocol",
  HANDSHAKE_FAILED = "creating the auth key failed",
  PROXY_AUTH_FAILED = "the SOCKS5 proxy refused the username and password (or wants them)",
  PROXY_REFUSED = "the proxy would not connect to the DC (its SOCKS5 reply, or an MTProxy closed without answering)",
  PROXY_PROTOCOL_ERROR = "the proxy does not speak the protocol it should (SOCKS5, or fake TLS for an ee secret)",
  PROXY_SECRET_INVALID = "the MTProxy does not know this secret: its fake-TLS answer is not signed with it",
  BAD_MSG = "the server rejected the message (bad_msg_notification)",
  -- local refusals of the client (is_local)
  RESEND_TOO_EARLY = "the server's timeout for asking another code has not passed yet",
  LOGIN_NOT_STARTED = "no login is pending: call send_code first",
  LOGIN_KEY_MISMATCH = "the pending login was requested under another auth key; "
    .. "the code cannot be used here: call send_code again",
  LOGIN_STATE_INVALID = "this login step does not fit the login state (see client:login_state())",
  LOGIN_INPUT_MISSING = "login{} needs a value it was not given for the current login state",
  LOGIN_ABORTED = "the login was ended by a callback of login{}",
  LOGIN_PAYMENT_REQUIRED = "this number can log in only after a purchase (auth.sentCodePaymentRequired)",
  SRP_UNAVAILABLE = "this build cannot compute the password check (no mtproto.srp)",
  SESSION_FOREIGN = "the session file is not a mtproto-lua session; it was left untouched",
  SESSION_VERSION = "the session file has a version this client does not read; it was left untouched",
  SESSION_CORRUPT = "the session file is damaged; it was left untouched",
  SESSION_IO = "the session file cannot be read or written",
  SESSION_MISMATCH = "the session file was made for other servers (test_mode differs); it was left untouched",
  SESSION_LOCKED = "another client has this session file open (one client per file)",
  SESSION_CONFLICT = "the session file changed on disk since it was read; it was not overwritten",
  SESSION_DECRYPT_FAILED = "wrong passphrase or key for the encrypted session file; it was left untouched",
  SESSION_ENCRYPTED = "the session file is encrypted: give its passphrase or key; it was left untouched",
  SESSION_NOT_ENCRYPTED = "the session file is not encrypted (encrypt it first); it was left untouched",
  DC_UNKNOWN = "no address is known for this DC",
  SRP_PARAMS_INVALID = "the server's two-step verification parameters failed a safety check; nothing was sent",
  PASSWORD_ALGO_UNKNOWN = "the password uses an algorithm this client does not know",
  PASSWORD_NOT_SET = "the account has no cloud password (account.password has no current_algo)",
  CLIENT_CLOSED = "the client was closed",
}
M.descriptions = descriptions

local restart_login = {
  PHONE_CODE_EXPIRED = true, PHONE_CODE_HASH_EMPTY = true, SEND_CODE_UNAVAILABLE = true,
  AUTH_RESTART = true, LOGIN_NOT_STARTED = true, LOGIN_KEY_MISMATCH = true,
}
local retry_types = {
  FLOOD_WAIT = true, FLOOD_PREMIUM_WAIT = true, SLOWMODE_WAIT = true, TAKEOUT_INIT_DELAY = true,
  RESEND_TOO_EARLY = true,
}

-- Splits "FLOOD_WAIT_30" into "FLOOD_WAIT", 30.
local function split(message)
  local t, n = message:match("^(.-)_(%d+)$")
  if t and t ~= "" then return t, math.tointeger(tonumber(n)) end
  return message, nil
end
M.split = split

-- Local failures that repeating cannot cure.
local final_local = { PROXY_AUTH_FAILED = true, PROXY_SECRET_INVALID = true }

local function classify(code, typ, value)
  if code < 0 then return final_local[typ] and "final" or "network" end
  if code == 303 or typ:match("_MIGRATE$") then return "migrate" end
  if restart_login[typ] then return "restart_login" end
  if retry_types[typ] or (code == 420 and value) then return "retry" end
  if code == 500 then return "retry" end
  return "final"
end
M.classify = classify

--- Error.new{ code = n, message = "TEXT", method = "ns.name", detail = "...", is_local = bool }
function Error.new(t)
  if type(t) ~= "table" then error("mtproto.Error.new: expected a table", 2) end
  local code = math.tointeger(t.code) or 0
  local message = tostring(t.message or "UNKNOWN")
  local typ, value = split(message)
  local e = setmetatable({
    code = code, message = message, type = typ, value = value,
    method = t.method, detail = t.detail, is_local = t.is_local or nil,
    description = t.description or descriptions[typ] or descriptions[message],
  }, Error)
  e.kind = t.kind or classify(code, typ, value)
  if e.kind == "retry" and value then e.retry_after = value end
  if e.kind == "migrate" and value then e.dc = value end
  return e
end

--- From the driver's `{code, message, detail}` table (or a string) to an Error.
function M.from_conn(err, method)
  if getmetatable(err) == Error then
    if method and not err.method then err.method = method end
    return err
  end
  if type(err) ~= "table" then
    return Error.new{ code = -15, message = "NETWORK_ERROR", detail = tostring(err), method = method }
  end
  return Error.new{ code = err.code, message = err.message, detail = err.detail, method = method }
end

--- errors.is(v) -> true when v is an mtproto.Error.
function M.is(v) return getmetatable(v) == Error end

--- err:is("FLOOD_WAIT") matches the type or the whole message.
function Error:is(name) return self.type == name or self.message == name end

function Error:__tostring()
  local s = "mtproto.Error " .. self.code .. " " .. self.message
  if self.method then s = s .. " (" .. self.method .. ")" end
  local text = self.description
  if self.detail and self.detail ~= "" and self.detail ~= text then
    text = text and (text .. "; " .. self.detail) or self.detail
  end
  if text then s = s .. ": " .. text end
  return (s:gsub("[\r\n]+", " "))
end

setmetatable(Error, { __call = function(_, t) return Error.new(t) end })

return M
