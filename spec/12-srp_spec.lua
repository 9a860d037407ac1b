-- mtproto.srp and core.srp: two-step verification (SRP) against published vectors, the
-- safety checks each with its pinned reason, and a round trip against the server side.
local core = require("mtproto.core")
local srp = require("mtproto.srp")
local helpers = require("helpers")
local C = core.srp

local function unhex(s)
  s = s:gsub("%s", "")
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local ALGO = "passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow"

-- The 2048-bit prime Telegram's servers send (core.telegram.org/api/srp and auth_key).
local P = unhex [[
c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db
fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64
2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41
0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4
e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf
6f4fadf034b10403119cd8e3b92fcc5b]]

-- Another safe 2048-bit prime: RFC 3526 group 14 (g = 2 generates its subgroup of order q).
local RFC3526 = unhex [[
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F
83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510
15728E5A8AACAA68FFFFFFFFFFFFFFFF]]

-- A 2048-bit prime that is not a safe prime (openssl prime -generate -bits 2048).
local UNSAFE = unhex [[
C92DD1B524C415EFBE3DE6F180AC93E853B7901AC962D5FC80E7DF347CA4ACAAEC6212531763DE75AC3F578A2169D659
3BF632982A7E1831A67F52EC23BF5534AE21742202422D38020597729BD1BC4E7283C3E37B38524C3CCCD3D7F2543CFF
2AFEF4CD7E72F79BA64AFC47FAB502BB91B09361AF964825B4154FAA5F342760A6756281C8537B65E3A2391E09265E03
95AD10E27D4D774D299637DC44B3AC58C6BCFBA0CFCCFA78987335C6A73B1F4D2D0E7C5711528CD5925980D0B2FF074F
5C6D3BB589D22A25B1A42B402546C2E062B02400EB376918387EEBF9C05D99A25F8D7417C708C602282C42307992C591
FAFACE4BD081D63251923E444A113C7D]]

-- Big-endian arithmetic on byte strings, enough to build boundary values of B.
local function add_small(s, d) -- s + d for a small (possibly negative) d, same length
  local t, carry = { s:byte(1, -1) }, d
  for i = #t, 1, -1 do
    local v = t[i] + carry
    t[i], carry = v % 256, v // 256
  end
  return string.char(table.unpack(t))
end
local LO = "\0\0\0\0\0\0\0\1" .. ("\0"):rep(248) -- 2^(2048-64)
local function sub(a, b) -- a - b, a >= b, both 256 bytes
  local t, borrow = {}, 0
  for i = 256, 1, -1 do
    local v = a:byte(i) - b:byte(i) - borrow
    borrow = v < 0 and 1 or 0
    t[i] = v % 256
  end
  return string.char(table.unpack(t))
end

-- gotd/td crypto/srp/srp_test.go TestSRP: a realistic account, a = 1.
local gotd = {
  password = "123123",
  algo = { _ = ALGO, g = 3, p = P,
    salt1 = unhex "4D11FB6BEC38F9D2546BB0F61E4F1C99A1BC0DB8F0D5F35B1291B37B213123D7ED48F3C6794D495B",
    salt2 = unhex "A1B181AAFE88188680AE32860D60BB01" },
  B = unhex [[
9C52401A6A8084EC82F01C3725D3FB448BD2F0C909F9D97726EAC4B7A74172D952F02466BE6734FA274D2B7429E27397
F10372D66B400B80A5C5AE3F28B17BF3105D7A2D2A885998CDC2DEFC208AEC217AB58859A9ABC2374AD93DC285F4B3FB
CAFF4143D7888F2425BD2FB711B25609CEB21757D935B1EF2F042173AD0CE2FE0E474DAC53914BD25A8A9AED4AEA8953
D55CB88621DB37B871EA0D04393AC0987F68094CCC9DE8239251375D8FFFD263316CD528C097B7BC9FB919FBEDB76C52
5DF3413C374EE076D97A1E6D352BB7CC80FD13651B04B32E2E48C5268150842CFD07CF855958B1B5EA9C36FDAD697FE3
AEC8DCC6B1EFEC36874AF226204676CF]],
  a = "\1",
  A = ("\0"):rep(255) .. "\3",
  M1 = "999df906bda2c6cbb52f503406eba2d0d0503ace0cc302c38f13ee5010ad4051",
}

describe("SRP arithmetic (published vectors, no safety checks)", function()
  it("core.srp.known_prime is the prime of the published vectors", function()
    assert.equal(hex(P), hex(C.known_prime))
  end)
  it("gotd/td TestSRP: A and M1 for password 123123 with a = 1", function()
    local A, M1 = C.client_unchecked(gotd.password, gotd.algo, gotd.B, gotd.a)
    assert.equal(hex(gotd.A), hex(A))
    assert.equal(gotd.M1, hex(M1))
  end)
  it("grammers check_calculations_1: the toy group p = 47 (t = B - k*v takes the negative branch)", function()
    local toy = { _ = ALGO, salt1 = "\1", salt2 = "\2", g = 3, p = "\x2f" }
    local A, M1 = C.client_unchecked("\7", toy, "\5", "\6")
    assert.equal(("00"):rep(255) .. "18", hex(A))
    assert.equal("9d83c46700b874e807c455e711241ede9eea62583b3847d7b77b7a32132036ce", hex(M1))
  end)
  it("gotd/td new_hash_test.go: new salt1 = salt1 + 32 random bytes, new_password_hash = g^x", function()
    local algo = { _ = ALGO, g = 3, p = P, salt1 = unhex "e6c8957ddf988d48",
      salt2 = unhex "9f6344822b096cff87efa426f57857b6" }
    local new_algo, v = srp.new_hash("newPassword", algo, ("\0"):rep(32))
    assert.same({ _ = ALGO, g = 3, p = P, salt1 = unhex "e6c8957ddf988d48" .. ("\0"):rep(32),
      salt2 = algo.salt2 }, new_algo)
    assert.equal("186ac18dcc5790bf6bba21bd958d375ee5481af0029e9bd7a9c68ec926bd5196d81f8cd8b58ee06c8a10adea"
      .. "cc7f56e819ff514825deb15b1fadec6aae17a244cb23488d17349cd4261a8ba4da7b9c2ce5c40014dd9e362750acf3ac"
      .. "89b8b8f5c618f0b6a572c38fff3a554d8818a0b8e7b6015e1836128a1e4e2d5cf9971d1dd048aa181d861152eae71553"
      .. "962680632387b89ac1865fded7c8c3daa64ed38dc25036663fa0cf7748c52ea19c187e70a752a8053e409d4894218a42"
      .. "9393d03382e41e50b7415b3b8ad092fd0790f88d894e84dca78f47f4218937d7aa99d88c87c09bcb8da890e535026623"
      .. "cea6fc8b3d25db70cb42aaa48323927d87a8fcf1", hex(v))
    -- without random32 the 32 bytes are random
    local a1 = srp.new_hash("x", { _ = ALGO, g = 3, p = P, salt1 = "s", salt2 = "" })
    assert.equal(33, #a1.salt1)
    assert.equal("s", a1.salt1:sub(1, 1))
    assert.are_not.equal(("\0"):rep(32), a1.salt1:sub(2))
  end)
end)

-- An account.password answer as account.getPassword gives it.
local function account_password(algo, B, id)
  return { _ = "account.password", has_password = true, current_algo = algo, srp_B = B, srp_id = id or 77,
    new_algo = { _ = "passwordKdfAlgoUnknown" }, new_secure_algo = { _ = "securePasswordKdfAlgoUnknown" },
    secure_random = "" }
end

describe("srp.check safety checks", function()
  local function with(field, value)
    local t = {}
    for k, v in pairs(gotd.algo) do t[k] = v end
    t[field] = value
    return t
  end
  local function refused(detail, algo, B, a)
    local r, err = srp.check(gotd.password, account_password(algo or gotd.algo, B or gotd.B), a)
    assert.is_nil(r)
    assert.equal("SRP_PARAMS_INVALID", err.message)
    assert.equal(detail, err.detail)
    assert.is_true(err.is_local)
    assert.equal(400, err.code)
    assert.equal("mtproto.Error 400 SRP_PARAMS_INVALID: the server's two-step verification parameters failed "
      .. "a safety check; nothing was sent; " .. detail, tostring(err))
  end

  it("refuse a p that is not the known prime and not a safe 2048-bit prime", function()
    refused("p is not prime", with("p", add_small(P, -2)))
    refused("p is not a safe prime", with("p", UNSAFE))
    refused("p is not a 2048-bit number", with("p", P:sub(2)))
    refused("p is not a 2048-bit number", with("p", "\0" .. P:sub(2)))
    refused("p is not a 2048-bit number", with("p", P .. "\1"))
  end)
  it("refuse g outside 2..7 and a g that fails its residue condition", function()
    refused("g is out of range (2..7)", with("g", 1))
    refused("g is out of range (2..7)", with("g", 8))
    refused("g fails the quadratic residue condition for p", with("g", 2)) -- p mod 8 = 3, not 7
  end)
  it("refuse srp_B outside 2^(2048-64) .. p - 2^(2048-64)", function()
    local hi = sub(P, LO)
    refused("srp_B is out of range", nil, "\1")
    refused("srp_B is out of range", nil, ("\0"):rep(255) .. "\1")
    refused("srp_B is out of range", nil, add_small(P, -1))
    refused("srp_B is out of range", nil, P)
    refused("srp_B is out of range", nil, add_small(LO, -1))
    refused("srp_B is out of range", nil, add_small(hi, 1))
    refused("srp_B is out of range", nil, "\1" .. gotd.B)
    refused("srp_B is out of range", nil, "")
  end)
  it("refuse an a whose A = g^a is out of range (the vector's a = 1)", function()
    refused("A = g^a is out of range", nil, nil, gotd.a)
  end)
  it("refuse a B whose t = B - k*v is out of range", function()
    -- server_B with b = 0 gives B = k*v + g^0, so t = 1
    local v = C.verifier(gotd.password, gotd.algo)
    local B = C.server_B(gotd.algo, v, ("\0"):rep(256))
    refused("B - k*v is out of range", nil, B)
  end)
  it("give PASSWORD_ALGO_UNKNOWN and PASSWORD_NOT_SET as nil, err", function()
    local ap = account_password({ _ = "passwordKdfAlgoUnknown" }, gotd.B)
    local r, err = srp.check("x", ap)
    assert.is_nil(r)
    assert.equal("PASSWORD_ALGO_UNKNOWN", err.message)
    assert.equal("the password uses passwordKdfAlgoUnknown", err.detail)
    r, err = srp.check("x", { _ = "account.password", new_algo = gotd.algo })
    assert.is_nil(r)
    assert.equal("PASSWORD_NOT_SET", err.message)
    r, err = srp.new_hash("x", { _ = "passwordKdfAlgoUnknown" })
    assert.is_nil(r)
    assert.equal("PASSWORD_ALGO_UNKNOWN", err.message)
    r, err = srp.new_hash("x", with("p", UNSAFE))
    assert.is_nil(r)
    assert.equal("p is not a safe prime", err.detail)
  end)
  it("raise on misuse", function()
    local ap = account_password(gotd.algo, gotd.B)
    assert.has_error(function() srp.check(123, ap) end,
      "mtproto.srp.check: bad argument #1 (expected string, got number)")
    assert.has_error(function() srp.check("x", "ap") end,
      "mtproto.srp.check: bad argument #2 (expected an account.password table, got string)")
    assert.has_error(function() srp.check("x", ap, 1) end,
      "mtproto.srp.check: bad argument #3 (expected string or nil, got number)")
    assert.has_error(function() srp.check("x", account_password(gotd.algo, nil)) end,
      "mtproto.srp.check: bad argument #2 (srp_B: expected string, got nil)")
    assert.has_error(function() srp.check("x", account_password(with("salt1", nil), gotd.B)) end,
      "algo.salt1: expected string, got nil")
    assert.has_error(function() srp.check("x", account_password(with("g", "3"), gotd.B)) end,
      "algo.g: expected int, got string")
    assert.has_error(function() srp.check("x", ap, ("a"):rep(257)) end)
    assert.has_error(function() srp.new_hash("x", gotd.algo, "short") end,
      "bad argument #3 to 'new_hash' (random32 must be 32 bytes, got 5)")
    assert.has_error(function() srp.new_hash("x", 5) end,
      "mtproto.srp.new_hash: bad argument #2 (expected a PasswordKdfAlgo table, got number)")
  end)
end)

describe("srp.check against the server side", function()
  it("the server accepts the right password and refuses a wrong one (the known prime)", function()
    local v = C.verifier("hunter2", gotd.algo)
    local b = core.crypto.random(256)
    local B = assert(C.server_B(gotd.algo, v, b))
    local ok = assert(srp.check("hunter2", account_password(gotd.algo, B, 4242)))
    assert.equal("inputCheckPasswordSRP", ok._)
    assert.equal(4242, ok.srp_id)
    assert.equal(256, #ok.A)
    assert.equal(32, #ok.M1)
    assert.is_true(C.server_check(gotd.algo, v, b, ok.A, ok.M1))
    local bad = assert(srp.check("hunter3", account_password(gotd.algo, B)))
    assert.same(helpers.nil_err(-20, "PASSWORD_HASH_INVALID", "M1 does not match"), { C.server_check(gotd.algo, v, b, bad.A, bad.M1) })
    assert.same(helpers.nil_err(-20, "SRP_PARAMS_INVALID", "A = g^a is out of range"), { C.server_check(gotd.algo, v, b, "\1", ok.M1) })
    assert.same(helpers.nil_err(-20, "PASSWORD_HASH_INVALID", "M1 does not match"), { C.server_check(gotd.algo, v, b, ok.A, ok.M1:sub(2)) })
    -- a fixed a gives the arithmetic of the unchecked path, and a fresh a a fresh A
    local a = core.crypto.random(256)
    local fixed = assert(srp.check("hunter2", account_password(gotd.algo, B), a))
    local A, M1 = C.client_unchecked("hunter2", gotd.algo, B, a)
    assert.equal(hex(A), hex(fixed.A))
    assert.equal(hex(M1), hex(fixed.M1))
    assert.are_not.equal(ok.A, fixed.A)
  end)
  it("a password set with new_hash checks out, on another safe prime (RFC 3526 group 14, g = 2)", function()
    local algo = { _ = ALGO, g = 2, p = RFC3526, salt1 = "s1", salt2 = "s2" }
    local new_algo, v = assert(srp.new_hash("correct horse", algo))
    local b = core.crypto.random(256)
    local B = assert(C.server_B(new_algo, v, b))
    local check = assert(srp.check("correct horse", account_password(new_algo, B)))
    assert.is_true(C.server_check(new_algo, v, b, check.A, check.M1))
  end)
end)
