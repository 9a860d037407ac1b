-- bin/mtproto, the command line, against the local test DC (--test-dc): call (pretty, JSON,
-- errors), login through a pseudo-terminal (script(1) from util-linux), session.
local helpers = require("helpers")

local CMD = helpers.LUA .. " " .. helpers.ROOT .. "/bin/mtproto"
local SEND = "call auth.sendCode phone_number=9996621234 api_id=1 api_hash=testdc "
  .. [['settings:={"_":"codeSettings"}']]

local run = helpers.run

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("the mtproto command", function()
  it("calls a method on the test DC and pretty-prints the answer", function()
    local out, status = run(CMD .. " --test-dc " .. SEND .. " 2>&1")
    assert.equal(0, status, out)
    assert.matches('_ = "auth.sentCode"', out, 1, true)
    assert.matches('phone_code_hash = "%x+"', out)
  end)

  it("prints the answer as JSON with --json", function()
    local out, status = run(CMD .. " --test-dc " .. SEND .. " --json 2>/dev/null")
    assert.equal(0, status, out)
    local cjson = require("cjson")
    local r = cjson.decode(out)
    assert.equal("auth.sentCode", r._)
    assert.equal("auth.sentCodeTypeApp", r.type._)
    assert.matches("^%x+$", r.phone_code_hash)
  end)

  it("writes an RPC error to stderr and exits 1; bad usage exits 2", function()
    local out, status = run(CMD .. " --test-dc call auth.resendCode phone_number=9996621234 phone_code_hash=x"
      .. " 2>&1 >/dev/null")
    assert.equal(1, status)
    assert.matches("PHONE_CODE_EXPIRED", out, 1, true)
    out, status = run(CMD .. " --test-dc call no.suchMethod 2>&1")
    assert.equal(2, status)
    assert.matches('no method "no.suchMethod"', out, 1, true)
    out, status = run("env -u MTPROTO_API_ID -u MTPROTO_API_HASH " .. CMD .. " call help.getConfig 2>&1")
    assert.equal(2, status)
    assert.matches("--api-id", out, 1, true)
    out, status = run(CMD .. " --bogus call help.getConfig 2>&1")
    assert.equal(2, status)
    assert.matches("unknown option --bogus", out, 1, true)
  end)

  it("logs in interactively through a terminal, asks again for the code, and keeps the session", function()
    local session = tmpname()
    -- the phone, an empty line (send the code again: too early on a fresh code), a wrong code,
    -- then the right one (test numbers 99966XYYYY: the code is X five times)
    local input = tmpname()
    local f = assert(io.open(input, "w"))
    f:write("9996621234\n\n11111\n22222\n")
    f:close()
    -- util-linux's script is not ours: under the sanitizer preload (make test SANITIZE=1) its own
    -- leak would fail the run, so leak checks are off for it and back on for the command inside
    local inner, outer_env = CMD .. " --test-dc login --session " .. session, ""
    local asan = os.getenv("ASAN_OPTIONS")
    if asan then
      inner = ("env ASAN_OPTIONS=%s %s"):format(asan, inner)
      outer_env = "env ASAN_OPTIONS=detect_leaks=0 "
    end
    local out, status = run(("timeout 60 %sscript -q -e -c %q /dev/null < '%s' 2>&1")
      :format(outer_env, inner, input))
    os.remove(input)
    assert.equal(0, status, out)
    assert.matches("login: wait_phone_number", out, 1, true)
    assert.matches("RESEND_TOO_EARLY", out, 1, true)
    assert.matches("PHONE_CODE_INVALID", out, 1, true)
    assert.matches("signed in as .* %(id 9996621235%), session kept in", out)
    -- what the session holds, never the key itself
    local text = helpers.slurp(session)
    local key = text:match("\ndc 2 (%x+) ")
    assert.truthy(key and #key == 512, text)
    out, status = run(CMD .. " session " .. session .. " 2>&1")
    assert.equal(0, status, out)
    assert.matches("user id +9996621235", out)
    assert.matches("DC 2 +auth key id %x+", out)
    assert.is_nil(out:find(key:sub(1, 32), 1, true))
    os.remove(session)
  end)

  it("runs the test DC (mtproto testdc passes its options through)", function()
    local out, status = run(CMD .. " testdc --help 2>&1")
    assert.equal(0, status, out)
    assert.matches("strict_seqno", out, 1, true)
  end)
end)
