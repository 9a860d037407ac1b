-- The test DC waits with io_uring where the system lets it (the answer's send, the wait for
-- the next request and its receive in one system call) and with epoll elsewhere, or when
-- started with io_uring = false. Both loops serve the same: calls on several connections in
-- turn, answers far larger than the sockets take at once while the client reads nothing
-- (written in parts as it reads), a client that closes with answers still to come, hostile
-- bytes (-404, closed), and the server keeps serving after each.
local helpers = require("helpers")
local testdc = require("mtproto.testdc")
local tl = require("mtproto.tl")

describe("test DC loops", function()
  it("say which one runs; io_uring must be a boolean", function()
    assert.has_error(function() testdc.start{ io_uring = 1 } end,
      "bad argument #1 to 'start' (io_uring: expected a boolean)")
    local dc <close> = assert(testdc.start{ dcs = 1, io_uring = false })
    assert.equal("epoll", dc.loop)
    local dc2 <close> = assert(testdc.start{ dcs = 1 })
    assert.truthy(dc2.loop == "io_uring" or dc2.loop == "epoll")
  end)

  for _, o in ipairs { { name = "epoll", io_uring = false }, { name = "the default loop" } } do
    describe("(" .. o.name .. ")", function()
      local dc
      setup(function() dc = assert(testdc.start{ dcs = 1, io_uring = o.io_uring }) end)
      teardown(function() dc:stop() end)

      it("answers calls on several connections in turn", function()
        local conns = {}
        for i = 1, 4 do conns[i] = helpers.conn(dc, 1) end
        for _ = 1, 3 do
          for i = 1, 4 do assert.equal("nearestDc", helpers.call(conns[i], { _ = "help.getNearestDc" })._) end
        end
        for _, c in ipairs(conns) do c:close() end
      end)

      it("writes 12 MB of answers to a client that reads only once it has sent every request", function()
        local conn = helpers.conn(dc, 1)
        local body = tl.encode{ _ = "help.getConfig" }
        local ids = {}
        for _ = 1, 150 do
          for _ = 1, 400 do ids[#ids + 1] = conn:send(body, 30) end
          assert(conn:flush())
        end
        for _, id in ipairs(ids) do
          local r = assert(conn:wait(id, 30))
          assert.equal("config", tl.decode_result("help.getConfig", r)._)
        end
        assert.equal("nearestDc", helpers.call(conn, { _ = "help.getNearestDc" })._)
        conn:close()
      end)

      it("forgets a client that closes with answers to come, and serves the next", function()
        for _ = 1, 3 do
          local conn = helpers.conn(dc, 1)
          local body = tl.encode{ _ = "help.getConfig" }
          for _ = 1, 2000 do conn:send(body, 30) end
          assert(conn:flush())
          conn:close()
        end
        local conn = helpers.conn(dc, 1)
        assert.equal("nearestDc", helpers.call(conn, { _ = "help.getNearestDc" })._)
        conn:close()
      end)

      it("answers an unknown auth key with a -404 frame and closes", function()
        local frame = "\x01\0\0\0\0\0\0\0" .. string.rep("\x55", 88)
        local out = helpers.raw_exchange(dc.ports[1], "\xef" .. string.char(#frame // 4) .. frame)
        assert.equal("016cfeffff", helpers.hex(out))
        local conn = helpers.conn(dc, 1)
        assert.equal("nearestDc", helpers.call(conn, { _ = "help.getNearestDc" })._)
        conn:close()
      end)
    end)
  end
end)
