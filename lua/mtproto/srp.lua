--- mtproto.srp: two-step verification (the cloud password), on the C core's SRP.
--
--   local ap = assert(client.account.getPassword{})
--   local check = assert(mtproto.srp.check("my password", ap))
--   local auth, err = client.auth.checkPassword{ password = check }
--
-- srp.check(password, account_password [, a]) -> an inputCheckPasswordSRP table
--   (srp_id, A, M1) for the account.password answer, or nil, err. A srp_id is good for one
--   check: ask account.getPassword again for the next one.
-- srp.new_hash(password, algo [, random32]) -> new_algo, new_password_hash, or nil, err:
--   the algo with 32 random bytes appended to salt1, and v = g^x for the new password
--   (the fields new_algo and new_password_hash of account.passwordInputSettings).
--
-- Only the algorithm passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
-- exists. The server's parameters are checked before anything is computed: p must be the
-- known 2048-bit prime or a proven safe 2048-bit prime, g in 2..7 with its residue
-- condition, srp_B, A = g^a and B - k*v in 2^(2048-64) .. p - 2^(2048-64). A failure is
-- `nil, err` (an mtproto.Error, is_local: SRP_PARAMS_INVALID with the failed check in
-- `detail`, PASSWORD_ALGO_UNKNOWN, PASSWORD_NOT_SET), never a request. `a` (at most 256
-- bytes) and `random32` (32 bytes) replace the random draws, for known-answer tests only.
-- Wrong argument types raise.
-- @module mtproto.srp
local core = require("mtproto.core")
local Error = require("mtproto.errors").Error

local csrp = core.srp
local ALGO = "passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow"

local M = {}

local function local_err(message, detail)
  return Error.new{ code = 400, message = message, detail = detail, is_local = true, kind = "final" }
end

local function check_arg(cond, fn, n, msg)
  if not cond then error(string.format("mtproto.srp.%s: bad argument #%d (%s)", fn, n, msg), 3) end
end

-- The algo table when it is the one algorithm this client knows, else nil, err.
local function known_algo(fn, algo)
  check_arg(type(algo) == "table", fn, 2, "expected a PasswordKdfAlgo table, got " .. type(algo))
  if algo._ ~= nil and algo._ ~= ALGO then
    return nil, local_err("PASSWORD_ALGO_UNKNOWN", "the password uses " .. tostring(algo._))
  end
  return algo
end

--- srp.check(password, account_password [, a]) -> the inputCheckPasswordSRP object for
-- auth.checkPassword, or nil, err (account_password: the answer of account.getPassword).
function M.check(password, account_password, a)
  check_arg(type(password) == "string", "check", 1, "expected string, got " .. type(password))
  check_arg(type(account_password) == "table", "check", 2,
    "expected an account.password table, got " .. type(account_password))
  check_arg(a == nil or type(a) == "string", "check", 3, "expected string or nil, got " .. type(a))
  local ap = account_password
  if ap.current_algo == nil then
    return nil, local_err("PASSWORD_NOT_SET", "account.password has no current_algo")
  end
  local algo, err = known_algo("check", ap.current_algo)
  if not algo then return nil, err end
  check_arg(type(ap.srp_B) == "string", "check", 2, "srp_B: expected string, got " .. type(ap.srp_B))
  check_arg(math.type(ap.srp_id) == "integer", "check", 2, "srp_id: expected integer, got " .. type(ap.srp_id))
  local A, M1 = csrp.client(password, algo, ap.srp_B, a)
  if not A then return nil, local_err(M1.message, M1.detail) end
  return { _ = "inputCheckPasswordSRP", srp_id = ap.srp_id, A = A, M1 = M1 }
end

--- srp.new_hash(password, algo [, random32]) -> the new_password_hash bytes for
-- account.updatePasswordSettings (algo: the new_algo of account.getPassword, salt extended).
function M.new_hash(password, algo, random32)
  check_arg(type(password) == "string", "new_hash", 1, "expected string, got " .. type(password))
  check_arg(random32 == nil or type(random32) == "string", "new_hash", 3,
    "expected string or nil, got " .. type(random32))
  local known, err = known_algo("new_hash", algo)
  if not known then return nil, err end
  local salt1, v = csrp.new_hash(password, algo, random32)
  if not salt1 then return nil, local_err(v.message, v.detail) end
  return { _ = ALGO, salt1 = salt1, salt2 = algo.salt2, g = algo.g, p = algo.p }, v
end

return M
