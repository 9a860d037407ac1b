-- bin/mtproto with encrypted sessions: `mtproto session --encrypt / --decrypt FILE`,
-- `mtproto session FILE` on an encrypted file, the passphrase from MTPROTO_SESSION_PASSPHRASE
-- or asked without echo on a terminal (script(1) from util-linux), `call --session` on one.
local helpers = require("helpers")
local sf = require("mtproto.session_file")
local seal = require("mtproto.core").seal

local CMD = helpers.LUA .. " " .. helpers.ROOT .. "/bin/mtproto"
local PASS = "tr0ub4dor&3"

local run = helpers.run

local function shq(v) return "'" .. v:gsub("'", "'\\''") .. "'" end

-- Runs the command on a pseudo-terminal and types `lines`, each once the command asked for
-- it (as a person would: a line typed before the prompt turned echo off would be echoed by
-- the terminal, whatever the program does). See spec 70 for the sanitizer's leak checks
-- (off for script(1) itself). -> the terminal's output, the exit status.
local function on_tty(args, lines)
  local inner, outer_env = "env -u MTPROTO_SESSION_PASSPHRASE " .. CMD .. " " .. args, ""
  local asan = os.getenv("ASAN_OPTIONS")
  if asan then
    inner = ("env ASAN_OPTIONS=%s %s"):format(asan, inner)
    outer_env = "env ASAN_OPTIONS=detect_leaks=0 "
  end
  local out = os.tmpname()
  local p = assert(io.popen(("timeout 60 %sscript -q -e -c %s /dev/null > %s 2>&1; echo \"exit=$?\" >> %s")
    :format(outer_env, shq(inner), out, out), "w"))
  for i, l in ipairs(lines) do
    helpers.eventually(function()
      local text = helpers.slurp(out)
      local _, asked = text:gsub("passphrase: ", "")
      local _, again = text:gsub("again: ", "")
      return asked + again >= i
    end, 30)
    p:write(l, "\n")
    p:flush()
  end
  p:close()
  local body, status = helpers.slurp(out):match("^(.-)exit=(%d+)\n$")
  os.remove(out)
  return body, tonumber(status)
end

describe("the mtproto command on encrypted sessions", function()
  local T = helpers.use_testdc{ dcs = 2 }

  it("encrypts with a passphrase typed twice without echo, shows and decrypts the session", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/me.session"
    local c, user = helpers.signed_in(T.dc, "9996621234", { session = path })
    assert.is_true(c:close())
    local plain = helpers.slurp(path)

    local out, status = on_tty("session --encrypt " .. path, { PASS, PASS })
    assert.equal(0, status, out)
    assert.matches("session passphrase: ", out, 1, true)
    assert.matches(path .. ": encrypted", out, 1, true)
    assert.is_nil(out:find(PASS, 1, true)) -- never echoed
    assert.is_true(seal.is_sealed(helpers.slurp(path)))
    assert.equal(user, assert(sf.load(path, { passphrase = PASS })).user_id)

    -- reading it: from the terminal, or from the environment
    out, status = on_tty("session " .. path, { PASS })
    assert.equal(0, status, out)
    assert.is_nil(out:find(PASS, 1, true))
    assert.matches("user id +" .. user, out)
    assert.matches("encrypted +yes %(passphrase: scrypt N=2%^16 r=8 p=1; AES%-256%-GCM%)", out)
    out, status = run("MTPROTO_SESSION_PASSPHRASE='" .. PASS .. "' " .. CMD .. " session " .. path .. " 2>&1")
    assert.equal(0, status, out)
    assert.matches("user id +" .. user, out)

    -- a wrong one: a clear error, the file untouched
    local sealed = helpers.slurp(path)
    out, status = run("MTPROTO_SESSION_PASSPHRASE=wrong " .. CMD .. " session " .. path .. " 2>&1")
    assert.equal(1, status)
    assert.matches("SESSION_DECRYPT_FAILED", out, 1, true)
    assert.equal(sealed, helpers.slurp(path))
    -- no terminal and no variable: no passphrase to be had
    out, status = run("env -u MTPROTO_SESSION_PASSPHRASE " .. CMD .. " session " .. path .. " </dev/null 2>&1")
    assert.equal(1, status)
    assert.matches("no more input", out, 1, true)

    -- already encrypted: said at once, nothing asked
    out, status = run("env -u MTPROTO_SESSION_PASSPHRASE " .. CMD .. " session --encrypt " .. path .. " </dev/null 2>&1")
    assert.equal(1, status)
    assert.matches(path .. ": already encrypted (left as it is)", out, 1, true)
    assert.equal(sealed, helpers.slurp(path))
    -- nothing typed, or typed twice differently: nothing done
    out, status = on_tty("session --decrypt " .. path, {})
    assert.equal(1, status, out)
    assert.matches("no more input", out, 1, true)
    assert.equal(sealed, helpers.slurp(path))
    out, status = on_tty("session --encrypt " .. dir .. "/other", { "a", "b" })
    assert.equal(2, status, out)
    assert.matches("the two passphrases differ", out, 1, true)

    out, status = run("MTPROTO_SESSION_PASSPHRASE='" .. PASS .. "' " .. CMD .. " session --decrypt " .. path .. " 2>&1")
    assert.equal(0, status, out)
    assert.equal(plain, helpers.slurp(path))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("call --session uses an encrypted file, and creates one when the variable is set", function()
    local dir = helpers.tmpdir()
    local path = dir .. "/new.session"
    local env = "MTPROTO_SESSION_PASSPHRASE='" .. PASS .. "' "
    local opts = ("--api-id %d --api-hash %s --host %s --port %d --rsa-key %s"):format(helpers.API_ID,
      helpers.API_HASH, T.dc.host, T.dc.ports[2], dir .. "/key.pem")
    local f = assert(io.open(dir .. "/key.pem", "w"))
    f:write(T.dc.pem)
    f:close()
    local out, status = run(env .. CMD .. " " .. opts .. " --session " .. path .. " call help.getNearestDc 2>&1")
    assert.equal(0, status, out)
    assert.matches("nearestDc", out, 1, true)
    local sealed = helpers.slurp(path)
    assert.is_true(seal.is_sealed(sealed))
    local key_id = assert(sf.load(path, { passphrase = PASS })).dcs[2].key_id
    -- again, with the passphrase typed: the same key (no new handshake)
    out, status = on_tty(opts .. " --session " .. path .. " call help.getNearestDc", { PASS })
    assert.equal(0, status, out)
    assert.is_nil(out:find(PASS, 1, true))
    assert.equal(key_id, assert(sf.load(path, { passphrase = PASS })).dcs[2].key_id)
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
