-- The test DC and requests sent as gzip_packed. Telegram's clients may send any request
-- gzip_packed (mtcute does so for larger ones, in zlib framing: its first request on a DC it
-- migrated to got 400 METHOD_INVALID from the test DC, which read gzip_packed as a method).
-- The test DC inflates a gzip_packed wherever it reads an object: the message itself, the
-- query of every wrapper, initConnection's params; in gzip, zlib or raw deflate framing, with
-- the client's cap (16 MiB in all).
local helpers = require("helpers")
local tl = require("mtproto.tl")

local call = helpers.call

-- The three framings of one deflate stream. zlib's gzip writer puts a 10-byte header (no
-- optional fields) and an 8-byte trailer (CRC32, size) around the raw stream; zlib's framing
-- is a 2-byte header and the big-endian Adler-32 of the data.
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return (b << 16) | a
end

local FRAMING = {
  gzip = function(data) return tl.gzip(data) end,
  raw = function(data) return tl.gzip(data):sub(11, -9) end,
  zlib = function(data) return "\x78\x9c" .. tl.gzip(data):sub(11, -9) .. string.pack(">I4", adler32(data)) end,
}

local function gz(obj_or_bytes, framing)
  local data = type(obj_or_bytes) == "string" and obj_or_bytes or tl.encode(obj_or_bytes)
  return tl.encode{ _ = "gzip_packed", packed_data = FRAMING[framing or "gzip"](data) }
end

local function send_code(phone)
  return { _ = "auth.sendCode", phone_number = phone, api_id = helpers.API_ID, api_hash = helpers.API_HASH,
    settings = {} }
end

-- invokeWithLayer(initConnection{params, query}) as bytes; `params` are bytes too (tl.encode
-- wants a JSONValue table there: it encodes a placeholder, whose bytes are then replaced).
local function init_connection(params, query)
  local mark = tl.encode{ _ = "jsonString", value = "params placeholder" }
  local init = { _ = "initConnection", params = tl.decode(mark), query = query }
  for k, v in pairs(helpers.INIT) do if k ~= "layer" then init[k] = v end end
  local b = tl.encode{ _ = "invokeWithLayer", layer = 223, query = init }
  local i, j = assert(b:find(mark, 1, true))
  return b:sub(1, i - 1) .. params .. b:sub(j + 1)
end

local function result(conn, body)
  local bytes, err = conn:call(body)
  if not bytes then return nil, err end
  return assert(tl.decode(bytes))
end

describe("mtproto-testdc and gzip_packed requests", function()
  local T = helpers.use_testdc{ dcs = 2 }

  it("inflates a request in each framing: gzip, zlib, raw deflate", function()
    for _, framing in ipairs{ "gzip", "zlib", "raw" } do
      local conn = helpers.conn(T.dc, 1)
      -- the first request of a connection goes inside invokeWithLayer(initConnection(...))
      assert.same({ _ = "nearestDc", country = "ZZ", this_dc = 1, nearest_dc = 1 },
        result(conn, gz({ _ = "help.getNearestDc" }, framing)), framing)
      -- then alone
      local sent = result(conn, gz(send_code("9996611234"), framing))
      assert.equal("auth.sentCode", sent._, framing)
      assert.equal("auth.sentCodeTypeApp", sent.type._, framing)
      conn:close()
    end
  end)

  it("inflates the whole invokeWithLayer(initConnection(...)) and a gzip_packed inside it", function()
    local conn = helpers.conn(T.dc, 2)
    local tz = { _ = "jsonObject", value = { { key = "tz_offset", value = { _ = "jsonNumber", value = 0 } } } }
    local wrapped = init_connection(tl.encode(tz), gz({ _ = "help.getConfig" }, "zlib"))
    assert.equal(2, result(conn, gz(wrapped, "zlib")).this_dc)
    -- initConnection's params as gzip_packed too
    assert.equal(2, result(conn, init_connection(gz(tz, "raw"), { _ = "help.getNearestDc" })).this_dc)
    conn:close()
  end)

  it("inflates requests inside a container", function()
    local conn = helpers.conn(T.dc, 1)
    assert(call(conn, { _ = "help.getNearestDc" }))
    local ids = {}
    for i = 1, 3 do ids[i] = conn:send(gz(send_code("999661000" .. i), ({ "gzip", "zlib", "raw" })[i])) end
    assert(conn:flush())
    for i = 1, 3 do
      assert.equal("auth.sentCode", assert(tl.decode(assert(conn:wait(ids[i]))))._)
    end
    conn:close()
  end)

  it("answers 400 INPUT_REQUEST_INVALID to corrupt or oversized data, and keeps serving", function()
    local conn = helpers.conn(T.dc, 1)
    assert(call(conn, { _ = "help.getNearestDc" }))
    local function refused(body)
      local r, err = result(conn, body)
      assert.is_nil(r)
      assert.same({ 400, "INPUT_REQUEST_INVALID" }, { err.code, err.message })
    end
    local good = FRAMING.gzip(tl.encode{ _ = "help.getNearestDc" })
    refused(tl.encode{ _ = "gzip_packed", packed_data = good:sub(1, -5) })                   -- cut short
    refused(tl.encode{ _ = "gzip_packed", packed_data = good .. "\0\0\0\0" })                -- trailing bytes
    refused(tl.encode{ _ = "gzip_packed", packed_data = "\x78\x9c" .. string.rep("\xff", 20) }) -- not deflate
    -- exactly 16 MiB inflated is accepted (auth.sendCode, then zeros nobody reads) ...
    local body = tl.encode(send_code("9996611234"))
    local big = gz(body .. string.rep("\0", (16 << 20) - #body))
    assert.equal("auth.sentCode", result(conn, big)._)
    -- ... but not with a few bytes more in the same request (initConnection's params)
    refused(init_connection(gz{ _ = "jsonObject", value = {} }, big))
    assert.equal(1, call(conn, { _ = "help.getNearestDc" }).this_dc)
    conn:close()
  end)
end)
