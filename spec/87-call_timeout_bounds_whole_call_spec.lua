-- A call's `timeout` bounds the whole call: the TCP connect, the handshake and the answer.
-- Against a listener that never answers, a first call with timeout = 0.5 used to take 10 s
-- (the connect and the handshake ran under the client's own values) and client:send blocked
-- for those 10 s before returning; invoke_all of 10 calls to a stalled DC shares one
-- deadline. Blocking, and inside cqueues and luv.
local helpers = require("helpers")
local core = require("mtproto.core")

local have_cq = pcall(require, "cqueues")
local have_uv = pcall(require, "luv")

-- Generous: the calls end after 0.5 s; they used to end after 10 s.
local LONGEST = 2.5

local function elapsed(t0) return core.conn.monotonic() - t0 end

-- A TCP listener nobody accepts from: the kernel completes the connect, nothing ever answers.
local listener, silent_port
local dc

lazy_setup(function()
  if have_cq then
    local socket = require("cqueues.socket")
    listener = socket.listen("127.0.0.1", 0)
    assert(listener:listen())
    silent_port = select(3, listener:localname())
  end
  dc = helpers.start_testdc{ dcs = 1, faults = { delay_ms = 4000 } }
end)
lazy_teardown(function()
  if listener then listener:close() end
  if dc then dc:stop() end
end)

local function silent_client(loop, pfs)
  return assert(require("mtproto").client{ api_id = helpers.API_ID, api_hash = helpers.API_HASH, dc = 1,
    dc_options = { [1] = { host = "127.0.0.1", port = silent_port } }, timeout = 10, loop = loop, pfs = pfs })
end

local HAVE = { blocking = true, cqueues = have_cq, luv = have_uv }

for _, mode in ipairs{ "blocking", "cqueues", "luv" } do
  local test = (HAVE[mode] and have_cq) and it or pending
  describe(mode, function()
    test("a first call with timeout = 0.5 to a server that never answers ends after 0.5 s", function()
      helpers.under_loop(mode, function(loop)
        local client = silent_client(loop)
        local t0 = core.conn.monotonic()
        local r, err = client:invoke({ _ = "ping", ping_id = 1 }, { timeout = 0.5 })
        local took = elapsed(t0)
        client:close()
        assert.is_nil(r)
        assert.equal("TIMEOUT", err.message)
        assert(took >= 0.45 and took < LONGEST, ("took %.2f s"):format(took))
      end)
    end)

    -- client:send then wait: the send returns within `longest_send`, the wait ends by the
    -- call's deadline. With pfs (the default) the first send sets up the temporary key: it may
    -- block, never past its timeout; without, the first call connects in its wait.
    local function send_then_wait(pfs, longest_send)
      helpers.under_loop(mode, function(loop)
        local client = silent_client(loop, pfs)
        local t0 = core.conn.monotonic()
        local p = client:send({ _ = "ping", ping_id = 2 }, { timeout = 0.5 })
        local sent = elapsed(t0)
        local r, err = p:wait()
        local took = elapsed(t0)
        client:close()
        assert(sent < longest_send, ("send blocked %.2f s"):format(sent))
        assert.is_nil(r)
        assert.equal("TIMEOUT", err.message)
        assert(took < LONGEST, ("took %.2f s"):format(took))
      end)
    end

    test("client:send (pfs = false) returns at once; its wait ends at the call's deadline", function()
      send_then_wait(false, 0.25)
    end)

    test("client:send (pfs) returns by the call's deadline", function()
      send_then_wait(nil, LONGEST)
    end)

    -- invoke_all of 10 pings with timeout = 0.5: every one TIMEOUT, all within one deadline
    local function ten_calls(client)
      local list = {}
      for i = 1, 10 do list[i] = { _ = "ping", ping_id = i } end
      local t0 = core.conn.monotonic()
      local results = client:invoke_all(list, { timeout = 0.5 })
      local took = elapsed(t0)
      client:close()
      for i = 1, 10 do
        assert.equal("TIMEOUT", results[i].message, "call " .. i .. ": " .. tostring(results[i]))
      end
      assert(took < LONGEST, ("10 calls took %.2f s"):format(took))
    end

    test("invoke_all of 10 calls to a server that never answers shares one deadline", function()
      helpers.under_loop(mode, function(loop) ten_calls(silent_client(loop)) end)
    end)

    test("invoke_all of 10 calls to a DC answering 4 s late shares one deadline", function()
      helpers.under_loop(mode, function(loop) ten_calls(helpers.client(dc, { dc = 1, loop = loop })) end)
    end)
  end)
end
