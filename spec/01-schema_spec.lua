-- The schema engine: every constructor id against the CRC32 of its canonical
-- line (computed here in plain Lua, independently of the C code), the
-- registry's lookups, run-time loading and the gzip helpers.
local tl = require("mtproto.core").tl

local root = os.getenv("MTPROTO_ROOT") or "."
local function read(path)
  local f = assert(io.open(root .. "/" .. path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- CRC-32 (IEEE 802.3, reflected, poly 0xedb88320), the one zlib computes.
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xedb88320 ~ (c >> 1) else c = c >> 1 end
  end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xffffffff
  for i = 1, #s do
    c = crc_table[(c ~ s:byte(i)) & 0xff] ~ (c >> 8)
  end
  return c ~ 0xffffffff
end

-- The canonical line a constructor id is the CRC32 of
-- (core.telegram.org/mtproto/TL-abstract-types and /type/bytes): the #id
-- dropped, `name:flags.N?true` parameters dropped, bytes -> string,
-- `<` -> space, `>` `{` `}` removed, whitespace collapsed, no `;`.
local function canonical(decl)
  local s = decl:gsub(";%s*$", "")
  s = s:gsub("^([%w_.]+)#%x+", "%1", 1)
  local kept = {}
  for tok in s:gmatch("%S+") do
    if not tok:match("^[%w_]+:[%w_]+%.%d+%?true$") then kept[#kept + 1] = tok end
  end
  s = table.concat(kept, " ") .. " "
  s = s:gsub("([:?])bytes([%s>])", "%1string%2")
  s = s:gsub("<", " "):gsub("[>{}]", "")
  s = s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  return s
end

-- Every declaration of a .tl text: { name=, id=, line=, method= }.
local function declarations(text)
  local out, method = {}, false
  for line in text:gmatch("[^\n]+") do
    if line:match("^%-%-%-functions%-%-%-") then method = true
    elseif line:match("^%-%-%-types%-%-%-") then method = false
    elseif not line:match("^%s*//") and line:match("%S") then
      local name, id = line:match("^([%w_.]+)#(%x+)")
      assert(name, "unparsed line: " .. line)
      out[#out + 1] = { name = name, id = tonumber(id, 16), line = line, method = method }
    end
  end
  return out
end

describe("schema", function()
  local files = { "schema/mtproto.tl", "schema/api.tl" }

  it("crc32 matches the published check value", function()
    assert.equal(0xcbf43926, crc32("123456789"))
    assert.equal(0xcbf43926, tl.crc32("123456789"))
  end)

  for _, file in ipairs(files) do
    it("every id in " .. file .. " is the CRC32 of its canonical line", function()
      local decls = declarations(read(file))
      assert.is_true(#decls > (file:match("api") and 2000 or 40))
      local checked = 0
      for _, d in ipairs(decls) do
        if d.name ~= "vector" then -- built in: `vector {t:Type} # [ t ] = Vector t`
          local c = canonical(d.line)
          if crc32(c) ~= d.id then
            error(string.format("%s: id %08x, crc32 %08x of %q", d.name, d.id, crc32(c), c))
          end
          -- the C helper agrees on the text and the number
          local cc, ccrc = tl.canonical(d.line)
          assert.equal(c, cc)
          assert.equal(d.id, ccrc)
          checked = checked + 1
        end
      end
      assert.is_true(checked > 0)
    end)
  end

  it("canonical lines follow the documented rules", function()
    assert.equal("resPQ nonce:int128 server_nonce:int128 pq:string server_public_key_fingerprints:Vector long = ResPQ",
      (tl.canonical("resPQ#05162463 nonce:int128 server_nonce:int128 pq:string server_public_key_fingerprints:Vector<long> = ResPQ;")))
    assert.equal("invokeWithLayer X:Type layer:int query:!X = X",
      (tl.canonical("invokeWithLayer#da9b0d0d {X:Type} layer:int query:!X = X;")))
    assert.equal("auth.resendCode flags:# phone_number:string phone_code_hash:string reason:flags.0?string = auth.SentCode",
      (tl.canonical("auth.resendCode#cae47523 flags:# phone_number:string phone_code_hash:string reason:flags.0?string = auth.SentCode;")))
    assert.equal("x flags:# a:flags.1?string b:string = X", (tl.canonical("x#1 flags:# t:flags.0?true a:flags.1?bytes b:bytes = X;")))
  end)

  it("holds every constructor and method of both files, by name and by id", function()
    local nctor, nmeth = 0, 0
    for _, file in ipairs(files) do
      for _, d in ipairs(declarations(read(file))) do
        if d.name ~= "vector" then
          local info = tl.info(d.name)
          assert.is_table(info, d.name)
          assert.equal(d.method and "method" or "constructor", info.kind)
          assert.equal(d.id, info.id)
          if d.method then nmeth = nmeth + 1 else nctor = nctor + 1 end
        end
      end
    end
    assert.equal(nmeth, #tl.methods())
    assert.equal(nctor, #tl.constructors())
    -- by id: a constructor without fields decodes from its 4 id bytes alone
    assert.same({ _ = "inputPeerEmpty" }, (tl.decode(string.pack("<I4", 0x7f3b18ea))))
    assert.same({ _ = "destroy_auth_key_ok" }, (tl.decode(string.pack("<I4", 0xf660e1d4))))
  end)

  it("describes constructors, methods and types", function()
    assert.equal(223, tl.layer)
    local m = tl.info("auth.resendCode")
    assert.same({
      kind = "method", name = "auth.resendCode", id = 0xcae47523, type = "auth.SentCode",
      params = {
        { name = "flags", type = "#" },
        { name = "phone_number", type = "string" },
        { name = "phone_code_hash", type = "string" },
        { name = "reason", type = "string", flag = "flags", bit = 0 },
      },
    }, m)
    assert.equal("Vector<MessageRange>", tl.info("messages.getSplitRanges").type)
    assert.equal("account.WallPapers", tl.info("account.getWallPapers").type)
    local t = tl.info("InputPeer")
    assert.equal("type", t.kind)
    assert.same({ "inputPeerEmpty", "inputPeerSelf", "inputPeerChat", "inputPeerUser", "inputPeerChannel",
      "inputPeerUserFromMessage", "inputPeerChannelFromMessage" }, t.constructors)
    assert.same({ "codeSettings" }, tl.info("CodeSettings").constructors)
    local f = tl.info("future_salts")
    assert.equal("vector<future_salt>", f.params[3].type)
    local q = tl.info("invokeWithLayer")
    assert.equal("!X", q.params[2].type)
    assert.equal("X", q.type)
    assert.is_nil(tl.info("no.suchThing"))
    local u = tl.info("user")
    local flags2 = 0
    for _, p in ipairs(u.params) do if p.flag == "flags2" then flags2 = flags2 + 1 end end
    assert.is_true(flags2 > 10)
  end)

  describe("tl.load", function()
    local tmp
    before_each(function() tmp = os.tmpname() end)
    after_each(function() os.remove(tmp) end)
    local function write(text)
      local f = assert(io.open(tmp, "wb"))
      f:write(text)
      f:close()
    end

    it("adds and overrides combinators in an independent registry", function()
      local reg = tl.new()
      write([[
// an extra file; LAYER 224
exampleThing#0badf00d flags:# big:flags.0?true n:int peer:InputPeer = ExampleThing;
inputPeerEmpty#7f3b18ea = InputPeer;
---functions---
auth.resendCode#3ef1a9bf phone_number:string phone_code_hash:string = auth.SentCode;
example.noId n:int = Bool;
]])
      assert.equal(4, reg.load(tmp))
      assert.equal(224, reg.layer)
      -- the new method id is used for encoding; both ids decode
      local old = reg.encode { _ = "auth.resendCode", phone_number = "1", phone_code_hash = "2" }
      assert.equal(string.pack("<I4", 0x3ef1a9bf) .. "\1\49\0\0\1\50\0\0", old)
      assert.same({ _ = "auth.resendCode", phone_number = "1", phone_code_hash = "2" }, (reg.decode(old)))
      local new = tl.encode { _ = "auth.resendCode", phone_number = "1", phone_code_hash = "2" }
      assert.same({ _ = "auth.resendCode", phone_number = "1", phone_code_hash = "2" }, (reg.decode(new)))
      -- a new constructor of a new type, with a flag
      local b = reg.encode { _ = "exampleThing", big = true, n = 7, peer = { _ = "inputPeerSelf" } }
      assert.equal(string.pack("<I4I4i4I4", 0x0badf00d, 1, 7, 0x7da07ec9), b)
      assert.same({ _ = "exampleThing", big = true, n = 7, peer = { _ = "inputPeerSelf" } }, (reg.decode(b)))
      -- the id of a declaration without #id is the CRC32 of its canonical line
      assert.equal(crc32("example.noId n:int = Bool"), reg.info("example.noId").id)
      -- overriding keeps one constructor per name in the type
      assert.equal(7, #reg.info("InputPeer").constructors)
      -- the shared registry did not change
      assert.equal(0xcae47523, tl.info("auth.resendCode").id)
      assert.is_nil(tl.info("exampleThing"))
      assert.equal(223, tl.layer)
    end)

    it("reports malformed files with the line", function()
      local reg = tl.new()
      write("good#00000001 = Good;\n\nbad#zz n:int = Bad;\n")
      local ok, err = reg.load(tmp)
      assert.is_nil(ok)
      assert.equal(tmp .. ":3: malformed declaration", err)
      assert.is_table(reg.info("good"))
      write("x#00000002 a:flags.0?int = X;\n")
      ok, err = reg.load(tmp)
      assert.is_nil(ok)
      assert.equal(tmp .. ":1: malformed declaration", err)
      ok, err = reg.load(tmp .. ".missing")
      assert.is_nil(ok)
      assert.matches("No such file", err)
      ok, err = reg.load_string("y#00000003 n:int = Y", "=extra")
      assert.is_nil(ok)
      assert.equal("=extra:1: malformed declaration", err)
    end)

    it("loads the full api.tl again at run time", function()
      local reg = tl.new()
      local before = #reg.methods()
      assert.is_true(reg.load(root .. "/schema/api.tl") > 2000)
      assert.equal(before, #reg.methods())
      assert.equal(223, reg.layer)
    end)
  end)

  describe("gzip", function()
    it("round-trips and writes RFC 1952 gzip", function()
      local data = string.rep("mtproto ", 1000)
      local z = tl.gzip(data)
      assert.equal("\31\139\8", z:sub(1, 3))
      assert.is_true(#z < 200)
      assert.equal(data, tl.gunzip(z))
      assert.equal("", tl.gunzip(tl.gzip("")))
    end)

    it("refuses corrupt, truncated, trailing and oversized data", function()
      local z = tl.gzip(string.rep("a", 100000))
      assert.same({ nil, "bad or oversized gzip data" }, { tl.gunzip(z, 99999) })
      assert.equal(100000, #tl.gunzip(z, 100000))
      assert.is_nil(tl.gunzip(z:sub(1, -2)))
      assert.is_nil(tl.gunzip(z .. "x"))
      assert.is_nil(tl.gunzip(z:sub(1, 10) .. ("\0"):rep(#z - 10)))
      assert.is_nil(tl.gunzip(""))
      -- a bare zlib stream is not gzip
      assert.is_nil(tl.gunzip("\120\156\75\4\0\0\98\0\98"))
    end)
  end)
end)
