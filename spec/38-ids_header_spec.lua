-- src/mt_ids.h: the constructor ids the client core and the test DC share, generated from
-- schema/ by scripts/gen_ids.lua and committed. It must be what the generator makes of the
-- schema now, and every id in it must be the one the codec's schema parser reads.
local helpers = require("helpers")
local tl = require("mtproto.core").tl

local ROOT = helpers.ROOT
local LUA = os.getenv("LUA") or "lua5.4"

-- Runs the generator; returns its output and what it printed.
local function generate(...)
  local dir = helpers.tmpdir()
  local args = {}
  for i, f in ipairs { ... } do args[i] = "'" .. f .. "'" end
  local p = assert(io.popen(("cd '%s' && %s scripts/gen_ids.lua '%s/out.h' %s 2>&1; echo rc=$?")
    :format(ROOT, LUA, dir, table.concat(args, " "))))
  local said = p:read("a")
  p:close()
  local out = helpers.slurp(dir .. "/out.h")
  os.execute("rm -rf '" .. dir .. "'")
  return out, said
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]*") do t[#t + 1] = l end
  return t
end

describe("src/mt_ids.h", function()
  it("is what scripts/gen_ids.lua makes of schema/ (run make after changing either)", function()
    local fresh, said = generate("schema/mtproto.tl", "schema/api.tl")
    assert.matches("rc=0", said)
    local want, have = lines(fresh), lines(helpers.slurp(ROOT .. "/src/mt_ids.h"))
    for i = 1, math.max(#want, #have) do
      assert.equal(want[i], have[i], "line " .. i)
    end
  end)

  it("holds the ids the schema parser knows, by TL name", function()
    -- the constructors the codec handles itself (by hand, and Vector) have no tl.info entry
    local builtin = { rpc_result = 0xf35c6d01, gzip_packed = 0x3072cfa1, msg_container = 0x73f1f8dc,
                      msg_copy = 0xe06046b2, vector = 0x1cb5c415 }
    local n = 0
    local text = helpers.slurp(ROOT .. "/src/mt_ids.h")
    for sym, hex, name in text:gmatch("#define (MT_ID_[%w_]+)%s+0x(%x+)u /%* ([%w_%.]+) %*/") do
      local info = tl.info(name)
      assert.equal(info and info.id or builtin[name], tonumber(hex, 16), sym)
      n = n + 1
    end
    assert.is_true(n > 100)
  end)

  it("fails the generator on a name the schema lacks", function()
    local dir = helpers.tmpdir()
    local f = assert(io.open(dir .. "/tiny.tl", "w"))
    f:write("boolTrue#997275b5 = Bool;\n")
    f:close()
    local out, said = generate(dir .. "/tiny.tl")
    os.execute("rm -rf '" .. dir .. "'")
    assert.equal("", out)
    assert.matches("is not in the schema", said)
    assert.not_matches("rc=0", said)
  end)
end)
