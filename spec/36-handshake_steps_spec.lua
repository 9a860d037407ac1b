-- The handshake's math runs in bounded pieces, so that a client on an event loop gives the
-- loop back between two of them: the auth client does at most one piece (pq factoring, the
-- RSA_PAD encryption, the dh_prime check, one 2048-bit modexp, or with split_modexp one of its
-- seven parts, each a 512-bit exponent's work) per work() call and none while it reads an answer; the link does one piece per
-- tick, with its deadline at once while a piece is due. Work is counted, not timed: a fake
-- clock that never moves.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local A, T = core.auth, core.transport

local PRIV, PUB = A.rsa_generate()

-- Runs the client's pieces until it has a message; returns it and the pieces it took, and
-- checks that each work() call did exactly one.
local function work_until_send(c)
  local pieces = 0
  while true do
    local before = c:ops()
    local st, out = assert(c:work())
    assert.equal(before + 1, c:ops())
    pieces = pieces + 1
    if st == "send" then return out, pieces end
    assert.equal("work", st)
  end
end

-- pieces after server_DH_params_ok: the dh_prime check, then g_b and g_a^b, each whole or in
-- seven parts
local MODES = { { split = nil, after_dh = 3 }, { split = true, after_dh = 15 } }

describe("handshake math in bounded pieces", function()
  for _, mode in ipairs(MODES) do
  local what = mode.split and " (modexps split)" or ""
  it("does no math while reading an answer and one piece per work() call" .. what, function()
    local c = A.client{ rsa_keys = { PUB }, dc_id = 2, split_modexp = mode.split }
    local s = A.server{ key_pem = PRIV }
    local st, out = assert(c:input(nil, 1000))
    assert.equal("send", st)                                  -- req_pq_multi: no math
    local _, res_pq = assert(s:step(out, 1000))
    assert.equal("work", (assert(c:input(res_pq, 1000))))
    assert.equal(0, c:ops())                                  -- resPQ was only parsed
    local req_dh, p1 = work_until_send(c)
    assert.equal(2, p1)                                       -- factoring, RSA_PAD
    local _, dh_ok = assert(s:step(req_dh, 1000))
    assert.equal("work", (assert(c:input(dh_ok, 1000))))
    assert.equal(2, c:ops())
    local set_dh, p2 = work_until_send(c)
    assert.equal(mode.after_dh, p2)                           -- dh_prime check, g_b, g_a^b
    local sst, gen_ok = assert(s:step(set_dh, 1000))
    assert.equal("done", sst)
    assert.equal("done", (assert(c:input(gen_ok, 1000))))
    assert.equal(2 + mode.after_dh, c:ops())
    assert.equal(s:result().auth_key, c:result().auth_key)   -- the parts make the same key
  end)
  end

  it("split_modexp is a boolean", function()
    assert.has_error(function() A.client{ rsa_keys = { PUB }, split_modexp = 1 } end,
      "bad argument #1 to 'client' (options.split_modexp must be a boolean)")
  end)

  it("step() still runs every piece at once, and an answer while work is left is refused", function()
    local c = A.client{ rsa_keys = { PUB }, dc_id = 2 }
    local s = A.server{ key_pem = PRIV }
    local _, out = assert(c:step(nil, 1000))
    local _, res_pq = assert(s:step(out, 1000))
    local st = assert(c:step(res_pq, 1000))
    assert.equal("send", st)
    assert.equal(2, c:ops())

    local c2 = A.client{ rsa_keys = { PUB }, dc_id = 2 }
    local s2 = A.server{ key_pem = PRIV }
    local _, out2 = assert(c2:input(nil, 1000))
    local _, res_pq2 = assert(s2:step(out2, 1000))
    assert.equal("work", (c2:input(res_pq2, 1000)))
    local ok, err = c2:input(res_pq2, 1000)
    assert.is_nil(ok)
    assert.same({ -4, "INVALID_ARGUMENT" }, { err.code, err.message })
    assert.matches("work was left", err.detail)
    assert.is_nil((c2:work()))                                -- the handshake is dead now
  end)

  for _, mode in ipairs(MODES) do
  it("the link does one piece per tick, due at once, and then answers the call" ..
      (mode.split and " (modexps split)" or ""), function()
    local link <close> = core.link.new{ dc_id = 2, transport = "intermediate", rsa_keys = { PUB },
      timeout = 10, connect_timeout = 5, init = { api_id = 1 }, split_modexp = mode.split }
    local NOW = 100                                           -- the clock never moves
    local id = link:send(tl.encode{ _ = "ping", ping_id = 1 }, NOW)
    link:connected(NOW)
    local tr, auth = T.server(), A.server{ key_pem = PRIV }
    local msgs, ticks, next_id = 0, 0, 0
    while link:state() ~= "ready" do
      local out = link:output(NOW)
      if out ~= "" then
        -- the server side of the handshake: plain messages in, plain messages out
        assert(tr:feed(out))
        local frame = assert(tr:next())
        local _, body = assert(A.plain_unwrap(frame))
        local _, answer = assert(auth:step(body, NOW))
        next_id = T.msgid_next(next_id, 0, math.floor(NOW * 1e9), 1)
        link:feed(tr:encode(A.plain_wrap(next_id, answer)), NOW)
        msgs = msgs + 1
      else
        assert.equal(NOW, link:deadline())                    -- a piece is due: at once
        local before = link:info().handshake_work
        link:tick(NOW)
        assert.equal(before + 1, link:info().handshake_work)  -- one piece, no more
        ticks = ticks + 1
      end
      assert.is_true(msgs + ticks < 30)
    end
    assert.equal(3, msgs)
    assert.equal(2 + mode.after_dh, ticks)
    assert.equal(2 + mode.after_dh, link:info().handshake_work)
    assert.is_truthy(link:info().auth_key)
    assert.equal(auth:result().auth_key, link:info().auth_key)
    assert.is_false(link:take(id))                            -- the call waits for its answer
    assert.is_true(#link:output(NOW) > 0)                     -- and goes out now
  end)
  end
end)

describe("a client's handshake pieces on real TCP", function()
  it("are parts of a modexp on a loop and whole ones when blocking", function()
    local mtproto = require("mtproto")
    local testdc = require("mtproto.testdc")
    local dc = assert(testdc.start { dcs = 1 })
    local function client(loop)
      return mtproto.client { api_id = 1, api_hash = "0123456789abcdef0123456789abcdef", dc = 1,
        dc_options = { [1] = { host = dc.host, port = dc.ports[1] } }, rsa_keys = { dc.pem }, pfs = false,
        timeout = 10, loop = loop }
    end
    local b = client()
    assert(b:invoke { _ = "help.getConfig" })
    local blocking = b:connection():state().handshake_work
    b:close()
    local cq, looped = require("cqueues").new(), nil
    cq:wrap(function()
      local c = client("cqueues")
      assert(c:invoke { _ = "help.getConfig" })
      looped = c:connection():state().handshake_work
      c:close()
    end)
    assert(cq:loop())
    dc:stop()
    assert.equal(5, blocking)
    assert.equal(17, looped)
  end)
end)
