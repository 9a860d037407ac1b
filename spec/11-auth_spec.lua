-- mtproto.core.auth: the auth-key handshake, client and server side.
local core = require("mtproto.core")
local A, C = core.auth, core.crypto
local helpers = require("helpers")

-- The names a failed step's error table carries for the codes the handshake fails with.
local ERR_NAMES = { [-2] = "INPUT_TRUNCATED", [-6] = "PROTOCOL_ERROR", [-19] = "RSA_KEY_UNKNOWN",
  [-20] = "HANDSHAKE_FAILED" }

local function unhex(s)
  s = s:gsub("[%s|]", "")
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end))
end
local function bytes(n, seed) -- deterministic filler (not crypto)
  local t, x = {}, seed or 1
  for i = 1, n do x = (x * 1103515245 + 12345) % 2147483648; t[i] = string.char(x >> 16 & 255) end
  return table.concat(t)
end
local function xor(a, b)
  local t = {}
  for i = 1, #a do t[i] = string.char(a:byte(i) ~ b:byte(i)) end
  return table.concat(t)
end
local function tlbytes(s)
  local h = #s < 254 and string.char(#s) or ("<I4"):pack(254 | #s << 8)
  local r = h .. s
  return r .. ("\0"):rep((4 - #r % 4) % 4)
end

-- Published bytes of core.telegram.org/mtproto/samples-auth_key (the req_pq_multi /
-- p_q_inner_data_dc version, nonce 406709F6...), transcribed as hex. Messages include the
-- 20-byte plain header. The server messages' message_length fields in the sample (168, 708, 116)
-- do not match their payloads (80, 632, 52 bytes), so their bodies are sliced at byte 21.
local S = {
  req_pq_multi = [[
00 00 00 00 00 00 00 00 D4 72 06 00 50 3D C5 65
14 00 00 00 F1 8E 7E BE 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF]],
  res_pq = [[
00 00 00 00 00 00 00 00 01 D8 31 75 50 3D C5 65
A8 00 00 00 63 24 16 05 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF E1 1D BC 3B C9 7D 91 A2
61 54 F9 32 AF 01 99 43 08 25 65 95 ED B7 76 67
97 00 00 00 15 C4 B5 1C 03 00 00 00 A5 B7 F7 09
35 5F C3 0B 21 6B E8 6C 02 2B B4 C3 85 FD 64 DE
85 1D 9D D0]],
  nonce = "406709F612FADFBEC3F0289D0AA67EEF",
  server_nonce = "E11DBC3BC97D91A26154F932AF019943",
  new_nonce = "A8BBC849512DAC6C67B6EFD9157D6CA7377A1776307D84265C6BE9BDCF802AC1",
  p = 1513098571, q = 1780931429, pq = 2694724800268887959,
  pq_inner_data = "955FF5A908256595EDB7766797000000045A300D4B000000046A26DB65000000406709F612FADFBEC3F0289D0AA67EEFE11DBC3BC97D91A26154F932AF019943A8BBC849512DAC6C67B6EFD9157D6CA7377A1776307D84265C6BE9BDCF802AC102000000",
  random_padding_bytes = "D944BB8347C876177FE03C2562BF4E87258EF147A7815D8853AA4B1065A5A385D0DA7E0B6100FAF55728D04DFC84E7E0D20006E07E1CB036730F5B3209CF85B2365B39DE2CBC56F40B725AD347835E5D1973567ECE8A02CF343D54F7",
  req_dh_params = [[
00 00 00 00 00 00 00 00 D8 72 06 00 50 3D C5 65
40 01 00 00 BE E4 12 D7 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF E1 1D BC 3B C9 7D 91 A2
61 54 F9 32 AF 01 99 43 04 5A 30 0D 4B 00 00 00
04 6A 26 DB 65 00 00 00 85 FD 64 DE 85 1D 9D D0
FE 00 01 00 B8 06 32 B3 F0 D1 AB 28 EF AE 2C F9
74 C4 A2 D5 1A 77 FC B6 DE FD 41 5E 1E C2 84 CA
B2 B5 F8 8D 5C 4C 5B 19 AF F5 E9 40 CE 14 CC B6
A7 F3 40 EC 88 DF 7C 1F 09 1F B6 F7 32 3B 04 7C
02 DC 63 21 2D 0D EB E4 B3 B7 A0 31 0E 26 DB 12
89 CB A2 41 12 DF 37 50 6C 90 DE AB 79 76 23 E4
AF F4 64 3D 2A 92 18 91 34 6B C1 76 C4 E1 CC E1
4F 64 FA 59 52 6D D0 21 EF FA 42 8E 8F 8A CE EB
96 DB D4 72 9E 99 BB B2 6D DD C7 44 D5 84 B7 32
41 5D FF E2 04 18 95 3F 4E AF C8 1D AD E5 C6 60
6A 1E 7F AA 3E DB 90 F3 6E CF 40 54 22 C9 7C 36
0C C3 1A 44 4B 1E EB 6C 33 D6 2C 58 02 16 5C 72
BB C8 5D 1A DB CC D1 79 88 DE 7F 43 DA 0F 34 05
02 74 4B 52 B1 96 A7 8E F1 ED 13 72 C6 EA 12 32
60 3F DB 9C 28 F7 F8 78 3F 29 09 8F FD 0F E9 B0
66 C4 60 EC BA 0A 29 62 B8 23 98 C1 B3 2D 3D CB
3B C3 A5 9E]],
  server_dh_params_ok = [[
00 00 00 00 00 00 00 00 01 4C 6E 1E 51 3D C5 65
C4 02 00 00 5C 07 E8 D0 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF E1 1D BC 3B C9 7D 91 A2
61 54 F9 32 AF 01 99 43 FE 50 02 00 6A D7 DD 5D
8B 25 26 C7 61 AB E5 0E 93 C8 2A 6F 33 1B 1E AE
0A D0 11 89 3D A9 76 E3 77 1D 4A A4 52 09 D2 34
FE A6 56 42 98 53 86 B8 17 BF 89 80 F5 17 F6 D3
2D BE B4 7E 34 53 45 56 F9 50 DD F9 60 DB 72 1A
48 48 02 31 61 91 61 11 26 82 C6 04 6D 56 29 C7
1C D1 EC 80 61 DF CD D7 04 70 3E C7 A8 AE BD CB
D1 59 57 9F C8 88 6D 9F A5 1E 00 9A F4 9B 5A B9
0C 76 28 EB 81 C9 78 8A 2E B6 AC 0E 75 7A 7D EB
E3 D9 49 F8 0A 99 0B ED B4 D2 DB AE 43 F0 03 28
B8 2F 4D 8F C8 3A 9B 9C FE EF 46 7E 15 93 BB 45
79 EE 32 41 2F 16 7A 78 0C FA 51 76 50 BD 0E B5
1C BF B5 0E 3A FE 97 88 39 46 61 31 FC D9 56 71
1E 63 61 4F 00 6A 55 ED 35 ED 2B 1F 83 3C 29 F4
FD 7A 84 F0 C8 F1 C1 0D FC 1A 1A AF 9A 8A 57 10
8D EC F2 06 E3 96 84 06 F0 FB 25 E9 22 DF 15 4F
49 7B 51 52 7E 48 34 20 2F AB 47 7A 13 7D 0A 99
D1 C3 47 19 6F BA 10 69 9F 52 EA 56 F0 1E F9 38
29 B3 10 A5 C9 7D B9 5F D5 7E 64 41 7E 52 6E B9
20 D2 61 15 7C 6E 38 79 1B DD 53 89 EE B7 44 E0
75 D9 52 DB 33 A8 15 12 07 D0 AB 3C 62 9E 30 A7
23 A5 20 5F 8F A1 83 98 93 7E D2 71 4A 4E 76 A5
F4 51 25 08 A4 BE 1B 4D 6A E4 6F D1 56 C6 F0 63
47 AF 5E 07 CE 49 27 91 95 13 3B 07 CC E4 BC 67
75 D8 8F 36 11 18 0D 23 C4 C7 09 46 61 9A D7 59
AB 9F 18 3A 38 5C CF 9B F1 93 15 FA DB E8 A4 FD
C7 48 AF 52 DF 93 03 45 90 9C 87 0D E4 B4 89 01
E9 F9 0E 56 D7 4C A5 34 D8 E1 FE 3A 35 A9 2A 18
D6 76 95 8E B8 FC 3D 82 F9 CE E3 08 DF 2A 9E 4C
CD 23 FF 89 EA 25 5B 9E ED BC 33 78 14 88 79 66
6F FC 2E 19 A4 31 CB B5 7A E1 A0 10 FF E5 CB 39
AB F1 31 AD D9 E9 0B F9 69 A1 12 C4 35 50 9B 78
96 0E 0B 20 03 1C 82 21 90 84 15 61 E8 39 04 46
22 76 60 BB AC CF 3D 53 57 4B FB A3 3B F4 76 E3
BD C9 EB 68 0A A2 A1 7F D6 75 6F 65 27 25 ED 03
13 E5 EB 0F D6 A9 C8 C9 49 EE FB E8 09 A8 93 11
BF 20 F4 00 55 CA 25 FD 16 9D C1 3E E1 4B 31 50
92 FD E4 18 46 38 D8 49 68 2F D8 62]],
  tmp_aes_key = "5EA702F743E850F5546E857F08B7D5337BBAEDF9B61248751594851BE2E8C297",
  tmp_aes_iv = "1CEF8E372A63D97EBFA805C0DBB018BC7C1E0931693FBCB1A1AFC0C0A8BBC849",
  answer_hash = "60026275CC91DDEC5371C67B10331C4C1D362585",
  server_time = 1707425105,
  b = "1376A5A6BF7A9F874B47028F3D5CFF0689FD52F58949BB0EE9BACDBE81DD1CED07101844EB6F2AE19E61120B84799431F445785E33A18141399821479AE96786E0F4E9C5C6C9E46BF562C21C96B0F8F7438C8CABA3DFCB3DD3B886C2A37B95ED804315335C0DDFFEB3A278243D89F964278BC734D1087D6D4B554C1F78397A414F440E38BA9A4F1211B20AE835437762F81A45FDB035BB2220D939693084B39A3C7BE2481309AB9AE378EAB8BB3A15A69EBA80BEF683582E2218FA604E823EABD111553D31DBB46B9383A0D8EEF615FFF9CF266C970800AA28AC5E962D20351311A815FFA7562989CA6D6323BF2B5AF40EF3F45021B7445664852D07B80172CE",
  g_b = "A215D057BC6648453D68C2F418A38D9D4F4FA47E5D520AC7EBC2ADC3B00075090C10A1E9D96A5DDA127317F2DDC165C5F6C8C2854648C106D0D9DF684DAE70B0E6021658806245B494B762B1979E8BD597B5CC8E43A80F96CA47FB0765C98D40529F3D94C82113AE32C603AA24411EF8B330565A1D66EA6B89C9D4F8AFFEEA397C4B247564215D147B6AD0DF7F3FB4499E89E34304531D87448B91967B5BD53093F09386C0F78940C1DD6AA7C8667E15857453E6AAD275F94CD386468CF49108FB7C54282596A4D0314DCE9EFED4066A6E072471439AEAAA74157DB7DD53F01982982534DEE8740610BA433BF459B3DFE38674561F31991CE007BA112DDA6718",
  client_padding = "74876952857BA6AAA495A20D",
  set_client_dh_params = [[
00 00 00 00 00 00 00 00 18 5C 07 00 51 3D C5 65
78 01 00 00 1F 5F 04 F5 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF E1 1D BC 3B C9 7D 91 A2
61 54 F9 32 AF 01 99 43 FE 50 01 00 14 D1 85 E5
75 25 59 86 C2 9B E3 A0 43 7D 52 5B A2 24 30 CB
A0 CD 75 52 25 94 5A D3 A1 AC EF B5 36 51 85 14
F5 08 68 92 E6 E3 FA 84 D1 CB B6 44 BC 8F 7B EB
CD E7 4E 31 BA 8A 07 3F 47 62 3E BB 6E 7D 94 B3
A6 76 A4 C1 AF D4 68 9C 52 D0 5F 73 D2 1C 33 F6
4F E6 AE AB D0 42 73 D9 11 7C D0 64 E4 67 E1 F8
E6 C8 87 BC AE 46 79 E0 39 9A D3 5D B1 30 2A 80
62 96 18 F8 C8 48 52 48 D8 9A 4E 35 68 B4 64 FF
7B 60 8C BE 24 B5 1E EB 81 B6 5D 76 22 4B 62 A1
66 9E AA 48 A9 9C 12 2E 5E 8A 77 8E 13 DD 44 1D
C5 21 75 16 00 88 A4 98 F1 86 A2 B9 9C 73 6F E8
C5 C3 E2 74 D8 04 C6 29 56 4A 0F 15 DD AB C5 B4
49 35 6A 79 90 90 06 52 A7 43 2A FB 14 99 C7 CE
09 24 6F 6B 29 00 64 25 DF 29 26 46 5B 04 F1 7C
00 77 B6 A3 36 A5 0E 46 B6 75 AD 56 07 F0 58 18
F8 4E AD EC 1F 48 47 BF 31 10 27 E7 42 F8 B1 E1
83 C0 18 10 C4 CE 96 4F 2A 0F 36 E2 57 84 9C 14
4C 9B 0B 93 B4 A7 A9 E5 73 91 DB 0C CB 0D 75 7A
2B 7A 77 25 7C 8F F5 55 53 D6 6B 6E 1D 45 E9 D8
CA 88 E5 A4 7B 16 32 2F F2 ED 5F 5A BE 09 9E 70
06 B2 D2 9C 82 9D 74 6B 70 41 30 B1]],
  auth_key = "ACA2547BAA3B4B3E6AD9129ADEE796042FC4ACAAABA40DCE7A1196640595829E2BA85C5E68E5D2B7B713B28720CCD0E65DA3B80CD8A9282BDE895755B924F4CBBCED119DEE057D3066D7095C25771A53D9AD6EC3464EE0E7FE1A4D9851F17B6CC7D6E636E0BDEA7D66153CF37005835A528E65673C1F5ADAA27465964BA89AA6FD045108B25B1DC9AB2D979864858C9EACBFA4A399CDBF2154D2CC6743C5CAA40683343D80A36C7F1289DC5AC5EE585DEA1E1CD296444EA6CD8F6C3564B2D355B310A3C02608EEA5EC36D38E941BF811489AB7A24C069E44FF54714CB4A45EEE2F310FDDC0A1B08BD3DFF8801E27C8508EFD7AD51EF3C13EF1D9A02EE4601741",
  dh_gen_ok = [[
00 00 00 00 00 00 00 00 01 00 BE 91 51 3D C5 65
74 00 00 00 34 F7 CB 3B 40 67 09 F6 12 FA DF BE
C3 F0 28 9D 0A A6 7E EF E1 1D BC 3B C9 7D 91 A2
61 54 F9 32 AF 01 99 43 11 42 87 13 52 16 5E 59
E1 12 40 36 B4 8B 97 D3]],
}

-- A 2048-bit prime p whose (p-1)/2 is composite (made with `openssl prime -generate -bits 2048`,
-- both facts checked with `openssl prime`): a prime that is not safe.
local NOT_SAFE_PRIME = "F7A3F72701D61C135E7C179441761577AD7505BD7570BDC3AF53DDBEEB63F5E42405EB7B923D5FDFC7554CDFBF42BB50734A3646F6512BB301E2D90E381675FB75486D5649553B884567B49202A5332A89E32D450446CF13F193236805465DB0ADB314FE63C30112B575FCE1A2F3F0656824630EE94AC4EE8B14CDA0EEB707CBEBB407C0A76042EC556C1CD1393880515D7CB9A2F566D148F0EE8FC9854BCAD4ED3A68DFA195D280AF92D3E3AF7BA258501E20EFA6BB3507931B17AEE7495532DB7874039F5146F30DD5F16A16E6A36530BD08F84DAA6AE0F9347445EE06C73DA08A4F9CA82DFC30DFBC2A9BF053B68D4201245815F13E3DA76CDAFBA877AD79"
-- Another 2048-bit safe prime (DH parameters made with `openssl genpkey -genparam -algorithm DH`,
-- p and (p-1)/2 checked with `openssl prime`); p mod 8 = 7, p mod 3 = 2.
local OTHER_SAFE_PRIME = "89E99F62C648375A93FE5B463A11A0D54651CCDE71EBB829FCE6A4149AA36F4588A1D9EB0665017D7656ECA776A52CC08F8864D80762CD6A78DF2E446CA8D08BB099C9C23339BD60308732017C254734AE2A590E98E518ECB55F9FBD9280FAC9173D513EE0A813A2BF18EB692B1B665D880CE825F653325EAB186C83EFBAF0CA88CAB51191BC8A9CBDA1367749BAE331469744C5BE01E031CAE156BFFF55E968FD3C3AF6A8D1F3791AA5996252925DD2951C98F92EFA4DFEB8EF1AA6AC43948E8B1BDED030F4B267B7A37DD9EAE676749727D7ACB29FD23DFC9A31EB00290B533075827FB1A22A5A942A8AFBF5B729FDB39711178E14BAA62C1231D0EDC0A34F"
local KNOWN_PRIME = "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F642477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"

local function msg_id_of(msg) return (string.unpack("<i8", msg, 9)) end
local function body_of(msg) return msg:sub(21) end

-- tmp_aes_key/iv from new_nonce and server_nonce (auth_key step 6), computed here independently.
local function tmp_key_iv(new_nonce, server_nonce)
  local a, b, c = C.sha1(new_nonce .. server_nonce), C.sha1(server_nonce .. new_nonce), C.sha1(new_nonce .. new_nonce)
  return a .. b:sub(1, 12), b:sub(13, 20) .. c .. new_nonce:sub(1, 4)
end

-- The key pair of the in-memory server, made once for the file.
local PRIV, PUB, FP = A.rsa_generate()
local NOW = 1700000000

describe("the official auth key example (core.telegram.org/mtproto/samples-auth_key)", function()
  -- temp_key of RSA_PAD is not published; any value whose key_aes_encrypted is below the
  -- modulus gives the same bytes everywhere except in the 256 RSA bytes.
  local TEMP_KEY = ("\17"):rep(32)
  local function sample_random()
    return unhex(S.nonce) .. unhex(S.new_nonce) .. unhex(S.random_padding_bytes) .. TEMP_KEY
        .. unhex(S.b) .. unhex(S.client_padding)
  end

  it("tmp_aes_key/iv of the sample follow from new_nonce and server_nonce", function()
    local k, iv = tmp_key_iv(unhex(S.new_nonce), unhex(S.server_nonce))
    assert.equal(S.tmp_aes_key, hex(k))
    assert.equal(S.tmp_aes_iv, hex(iv))
  end)

  it("decrypts the published encrypted_answer (a published AES-256-IGE vector) to a server_DH_inner_data with its SHA1", function()
    local body = body_of(unhex(S.server_dh_params_ok))
    local enc = body:sub(41, 40 + 592) -- after ctor, nonce, server_nonce and the 4-byte TL length
    local plain = C.ige_decrypt(unhex(S.tmp_aes_key), unhex(S.tmp_aes_iv), enc)
    assert.equal(S.answer_hash, hex(plain:sub(1, 20)))
    assert.equal(S.answer_hash, hex(C.sha1(plain:sub(21, 20 + 564))))
    assert.equal("BA0D89B5", hex(plain:sub(21, 24)))
    assert.equal(KNOWN_PRIME, hex(plain:sub(21 + 44, 20 + 300)))
    assert.equal(S.server_time, (string.unpack("<i4", plain, 20 + 561)))
    -- and back: encryption gives the published ciphertext
    assert.equal(hex(enc), hex(C.ige_encrypt(unhex(S.tmp_aes_key), unhex(S.tmp_aes_iv), plain)))
  end)

  it("is replayed by the client byte for byte with its random values fed in", function()
    local c = A.client{ dc_id = 2, random = sample_random() } -- built-in keys: 85FD64DE851D9DD0 is the production key
    local st, out = c:step(nil, NOW)
    assert.equal("send", st)
    local want = unhex(S.req_pq_multi)
    assert.equal(hex(want), hex(A.plain_wrap(msg_id_of(want), out)))

    st, out = c:step(body_of(unhex(S.res_pq)), NOW)
    assert.equal("send", st)
    want = unhex(S.req_dh_params)
    local got = A.plain_wrap(msg_id_of(want), out)
    assert.equal(#want, #got)
    -- everything up to and including the TL length of encrypted_data: p, q, fingerprint
    assert.equal(hex(want:sub(1, 84)), hex(got:sub(1, 84)))

    st, out = c:step(body_of(unhex(S.server_dh_params_ok)), NOW)
    assert.equal("send", st, out)
    want = unhex(S.set_client_dh_params)
    assert.equal(hex(want), hex(A.plain_wrap(msg_id_of(want), out)))

    st = c:step(body_of(unhex(S.dh_gen_ok)), NOW)
    assert.equal("done", st)
    local r = c:result()
    assert.equal(S.auth_key, hex(r.auth_key))
    assert.equal(string.unpack("<i8", C.sha1(r.auth_key), 13), r.auth_key_id)
    local salt = xor(unhex(S.new_nonce):sub(1, 8), unhex(S.server_nonce):sub(1, 8))
    assert.equal((string.unpack("<i8", salt)), r.server_salt)
    assert.equal(S.server_time - NOW, r.time_offset)
  end)

  it("serialises the sample's p_q_inner_data_dc and RSA_PAD padding exactly (checked through our own key)", function()
    -- The same resPQ, but naming the in-memory server's key, so that the spec can undo RSA_PAD.
    local res = body_of(unhex(S.res_pq)):sub(1, 48) .. unhex("15C4B51C01000000") .. ("<i8"):pack(FP)
    local c = A.client{ dc_id = 2, rsa_keys = { PUB }, random = sample_random() }
    c:step(nil, NOW)
    local st, out = c:step(res, NOW)
    assert.equal("send", st, out)
    assert.equal(hex(("<i8"):pack(FP)), hex(out:sub(53, 60)))
    local padded = assert(A.rsa_unpad(PRIV, out:sub(-256)))
    assert.equal(S.pq_inner_data .. S.random_padding_bytes, hex(padded))
  end)
end)

-- Runs the client against the in-memory server. tamper[n](body, new_nonce) may rewrite the
-- server's n-th answer (1 resPQ, 2 server_DH_params_ok, 3 dh_gen_ok) and ctamper[n](body) the
-- client's n-th request (1 req_pq_multi, 2 req_DH_params, 3 set_client_DH_params).
local function exchange(opts)
  opts = opts or {}
  local crand = bytes(8192, opts.seed or 7)
  local c = A.client{ rsa_keys = opts.rsa_keys == nil and { PUB } or opts.rsa_keys or nil, dc_id = opts.dc_id,
                      expires_in = opts.expires_in, random = crand, dh_cache = opts.dh_cache }
  local s = A.server{ key_pem = PRIV }
  local new_nonce = crand:sub(17, 48)
  local st, out = c:step(nil, NOW)
  assert.equal("send", st)
  for n = 1, 3 do
    if opts.ctamper and opts.ctamper[n] then out = opts.ctamper[n](out) end
    local ss, sout = s:step(out, NOW + 5)
    if not ss then return { c = c, s = s, server_err = sout.detail, failure = sout } end
    if opts.tamper and opts.tamper[n] then sout = opts.tamper[n](sout, new_nonce, s) end
    local cs, cout = c:step(sout, NOW)
    if cs == "done" then return { c = c, s = s, done = true } end
    if not cs then return { c = c, s = s, err = cout.detail, failure = cout } end
    out = cout
  end
  error("the exchange did not end")
end

-- Decrypts server_DH_params_ok, lets edit() change the 564-byte server_DH_inner_data, and
-- re-encrypts it with a correct SHA1 (or the original one when keep_hash).
local function reseal(edit, keep_hash)
  return function(body, new_nonce)
    local key, iv = tmp_key_iv(new_nonce, body:sub(21, 36))
    local plain = C.ige_decrypt(key, iv, body:sub(41, 40 + 592))
    local ans = edit(plain:sub(21, 20 + 564))
    local data = (keep_hash and plain:sub(1, 20) or C.sha1(ans)) .. ans
    data = data .. ("\0"):rep((16 - #data % 16) % 16)
    return body:sub(1, 36) .. tlbytes(C.ige_encrypt(key, iv, data))
  end
end
local function set_g(v) return function(a) return a:sub(1, 36) .. ("<i4"):pack(v) .. a:sub(41) end end
local function set_prime(p) return function(a) return a:sub(1, 44) .. p .. a:sub(301) end end
local function set_ga(v) return function(a) return a:sub(1, 304) .. v .. a:sub(561) end end
local function flip(i) return function(b) return b:sub(1, i - 1) .. string.char(b:byte(i) ~ 1) .. b:sub(i + 1) end end
local function be256(n) return ("\0"):rep(248) .. (">I8"):pack(n) end
local function minus(p, k) -- p - k for a small k, big-endian bytes
  local t, borrow = { p:byte(1, -1) }, k
  for i = #t, 1, -1 do
    local v = t[i] - borrow
    if v < 0 then t[i] = v + 256; borrow = 1 else t[i] = v; borrow = 0 end
    if borrow == 0 then break end
  end
  return string.char(table.unpack(t))
end
local function nonce_hash(new_nonce, n, auth_key)
  return C.sha1(new_nonce .. string.char(n) .. C.sha1(auth_key):sub(1, 8)):sub(5, 20)
end

describe("the in-memory handshake, client against server", function()
  it("agrees on the key, the salt and the dc (permanent key, p_q_inner_data_dc)", function()
    local r = exchange{ dc_id = 10002 }
    assert.is_true(r.done)
    local a, b = r.c:result(), r.s:result()
    assert.equal(256, #a.auth_key)
    assert.equal(hex(b.auth_key), hex(a.auth_key))
    assert.equal(b.auth_key_id, a.auth_key_id)
    assert.equal(b.server_salt, a.server_salt)
    assert.equal(5, a.time_offset)
    assert.equal(10002, b.dc_id)
    assert.equal(0, b.expires_in)
    -- the salt is new_nonce[0:8] XOR server_nonce[0:8]
    assert.is_nil(r.c:step("", NOW))
  end)

  it("makes a temporary key with p_q_inner_data_temp_dc", function()
    local r = exchange{ dc_id = -4, expires_in = 3600, seed = 11 }
    assert.is_true(r.done)
    local b = r.s:result()
    assert.equal(3600, b.expires_in)
    assert.equal(-4, b.dc_id)
    assert.equal(hex(b.auth_key), hex(r.c:result().auth_key))
  end)

  it("works with the system random source on both sides and gives fresh keys", function()
    local function run()
      local c, s = A.client{ rsa_keys = { PUB } }, A.server{ key_pem = PRIV }
      local _, out = c:step()
      for _ = 1, 3 do
        local _, sout = s:step(out)
        local st, cout = c:step(sout)
        if st == "done" then break end
        out = cout
      end
      return assert(c:result()).auth_key, s:result().auth_key
    end
    local k1, k1s = run()
    local k2 = run()
    assert.equal(k1, k1s)
    assert.are_not.equal(k1, k2)
  end)

  it("follows dh_gen_retry with a new b and retry_id = auth_key_aux_hash", function()
    local crand = bytes(8192, 5)
    local new_nonce = crand:sub(17, 48)
    local c, s = A.client{ rsa_keys = { PUB }, random = crand }, A.server{ key_pem = PRIV }
    local _, out = c:step(nil, NOW)
    _, out = s:step(out, NOW)
    _, out = c:step(out, NOW)
    _, out = s:step(out, NOW)
    local st, first = c:step(out, NOW) -- set_client_DH_params
    assert.equal("send", st)
    local st2, ok = s:step(first, NOW)
    assert.equal("done", st2)
    local key = s:result().auth_key
    local k, iv = tmp_key_iv(new_nonce, ok:sub(21, 36))
    local function inner(req) return C.ige_decrypt(k, iv, req:sub(41, 40 + 336)) end

    local retry = unhex("B91FDC46") .. ok:sub(5, 36) .. nonce_hash(new_nonce, 2, key)
    local st3, again = c:step(retry, NOW)
    assert.equal("send", st3, again)
    local a, b = inner(first), inner(again)
    assert.equal("54B64366", hex(b:sub(21, 24)))
    assert.equal(("\0"):rep(8), a:sub(57, 64))                 -- first attempt: retry_id 0
    assert.equal(hex(C.sha1(key):sub(1, 8)), hex(b:sub(57, 64))) -- then the aux hash of that key
    assert.are_not.equal(a:sub(69, 324), b:sub(69, 324))          -- and a new g_b
    assert.is_nil(c:result())
    -- a dh_gen_fail carrying a hash made with the old key does not match the new one
    local fail = unhex("02AE9DA6") .. ok:sub(5, 36) .. nonce_hash(new_nonce, 3, key)
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "new_nonce_hash3 mismatch"), { c:step(fail, NOW) })
    assert.is_nil(c:result())
  end)
end)

describe("every tampered handshake input", function()
  local P = unhex(KNOWN_PRIME)
  local LO = ("\0"):rep(7) .. "\1" .. ("\0"):rep(248) -- 2^(2048-64)
  local cases = {
    -- { name, exchange options, side, expected detail, code }
    { "wrong nonce in resPQ", { tamper = { [1] = flip(5) } }, "client", "nonce mismatch", -20 },
    { "resPQ of another constructor", { tamper = { [1] = flip(1) } }, "client", "expected resPQ", -6 },
    { "unknown server key fingerprint", { rsa_keys = false }, "client",
      "no known RSA key matches the server's fingerprints", -19 },
    { "pq that is not a product of two primes",
      { tamper = { [1] = function(b) return b:sub(1, 36) .. tlbytes((">I8"):pack(1000000007 * 8)) .. b:sub(49) end } },
      "client", "pq is not a product of two primes", -20 },
    { "wrong server_nonce in server_DH_params_ok", { tamper = { [2] = flip(21) } }, "client", "server_nonce mismatch", -20 },
    { "server_DH_params_fail", { tamper = { [2] = function(b) return unhex("5D04CB79") .. b:sub(5, 36) .. ("\0"):rep(16) end } },
      "client", "server refused the DH exchange (server_DH_params_fail)", -20 },
    { "bad answer hash", { tamper = { [2] = reseal(set_g(4), true) } }, "client", "answer hash mismatch", -20 },
    { "corrupted encrypted_answer", { tamper = { [2] = function(b) return b:sub(1, -17) .. ("\0"):rep(16) end } },
      "client", "answer hash mismatch", -20 },
    { "wrong nonce inside server_DH_inner_data",
      { tamper = { [2] = reseal(function(a) return a:sub(1, 4) .. ("\0"):rep(16) .. a:sub(21) end) } },
      "client", "nonce mismatch in server_DH_inner_data", -20 },
    { "dh_prime that is not prime", { tamper = { [2] = reseal(set_prime(minus(P, 2))) } }, "client", "dh_prime is not prime", -20 },
    { "dh_prime that is prime but not safe", { tamper = { [2] = reseal(set_prime(unhex(NOT_SAFE_PRIME))) } },
      "client", "dh_prime is not a safe prime", -20 },
    { "dh_prime shorter than 2048 bits", { tamper = { [2] = reseal(set_prime("\0" .. P:sub(2))) } },
      "client", "dh_prime is not a 2048-bit number", -20 },
    { "g out of range", { tamper = { [2] = reseal(set_g(9)) } }, "client", "g is out of range (2..7)", -20 },
    { "g = 2 with a prime that is 3 mod 8", { tamper = { [2] = reseal(set_g(2)) } }, "client",
      "g fails the quadratic residue condition for dh_prime", -20 },
    { "g_a = 1", { tamper = { [2] = reseal(set_ga(be256(1))) } }, "client", "g_a is out of range", -20 },
    { "g_a = p - 1", { tamper = { [2] = reseal(set_ga(minus(P, 1))) } }, "client", "g_a is out of range", -20 },
    { "g_a just below 2^(2048-64)", { tamper = { [2] = reseal(set_ga(minus(LO, 1))) } }, "client", "g_a is out of range", -20 },
    { "bad new_nonce_hash1 in dh_gen_ok", { tamper = { [3] = flip(40) } }, "client", "new_nonce_hash1 mismatch", -20 },
    { "wrong server_nonce in dh_gen_ok", { tamper = { [3] = flip(25) } }, "client", "server_nonce mismatch", -20 },
    { "dh_gen_fail", { tamper = { [3] = function(b, nn, s)
        return unhex("02AE9DA6") .. b:sub(5, 36) .. nonce_hash(nn, 3, s:result().auth_key) end } },
      "client", "server answered dh_gen_fail", -20 },
    -- the server's checks
    { "server: wrong server_nonce in req_DH_params", { ctamper = { [2] = flip(21) } }, "server", "server_nonce mismatch", -20 },
    { "server: p and q that do not match pq", { ctamper = { [2] = flip(38) } }, "server", "p and q do not match pq", -20 },
    { "server: unknown public_key_fingerprint", { ctamper = { [2] = flip(53) } }, "server", "unknown public_key_fingerprint", -19 },
    { "server: corrupted RSA_PAD data", { ctamper = { [2] = flip(200) } }, "server", "RSA_PAD hash mismatch in encrypted_data", -20 },
    { "server: corrupted client_DH_inner_data", { ctamper = { [3] = function(b) return b:sub(1, -17) .. ("\0"):rep(16) end } },
      "server", "client_DH_inner_data hash mismatch", -20 },
  }
  for _, case in ipairs(cases) do
    it("is rejected: " .. case[1], function()
      local r = exchange(case[2])
      assert.is_nil(r.done)
      if case[3] == "client" then
        assert.equal(case[4], r.err)
        assert.is_nil(r.c:result()) -- and no key
        local again, err2 = r.c:step("", NOW)
        assert.is_nil(again)
        assert.equal(case[4], err2.detail) -- the client stays failed with its first error
      else
        assert.equal(case[4], r.server_err)
        assert.is_nil(r.s:result())
      end
      assert.same({ case[5], ERR_NAMES[case[5]] }, { r.failure.code, r.failure.message })
    end)
  end

  it("with a distinct error text per client check", function()
    local seen, n = {}, 0
    for _, case in ipairs(cases) do
      if case[3] == "client" and not seen[case[4]] then seen[case[4]] = true; n = n + 1 end
    end
    assert.equal(16, n)
  end)
end)

describe("truncated messages", function()
  -- Drives a fresh pair to the point where side `who` takes its n-th input, then feeds that input
  -- cut to `len` bytes. Every cut must give an error (never a crash, never a key).
  local function cut_at(who, n, len)
    local c, s = A.client{ rsa_keys = { PUB }, random = bytes(4096, 9) }, A.server{ key_pem = PRIV }
    local _, msg = c:step(nil, NOW)
    for k = 1, n do
      if who == "server" and k == n then return s:step(msg:sub(1, len), NOW) end
      local _, ans = s:step(msg, NOW)
      if who == "client" and k == n then return c:step(ans:sub(1, len), NOW) end
      _, msg = c:step(ans, NOW)
    end
  end
  local function full_len(who, n)
    local c, s = A.client{ rsa_keys = { PUB }, random = bytes(4096, 9) }, A.server{ key_pem = PRIV }
    local _, msg = c:step(nil, NOW)
    for k = 1, n do
      if who == "server" and k == n then return #msg end
      local _, ans = s:step(msg, NOW)
      if who == "client" and k == n then return #ans end
      _, msg = c:step(ans, NOW)
    end
  end
  for _, where in ipairs { { "client", 1 }, { "client", 2 }, { "client", 3 }, { "server", 1 }, { "server", 2 }, { "server", 3 } } do
    it(("are refused by the %s at step %d, cut anywhere"):format(where[1], where[2]), function()
      local full = full_len(where[1], where[2])
      local lens = {}
      for len = 0, full - 1, full > 200 and 17 or 2 do lens[#lens + 1] = len end
      lens[#lens + 1] = full - 1
      for _, len in ipairs(lens) do
        local st, err = cut_at(where[1], where[2], len)
        assert.is_nil(st, ("length %d of %d"):format(len, full))
        assert.is_string(err.detail)
        assert.equal(ERR_NAMES[err.code], err.message)
      end
    end)
  end
end)

describe("a dh_prime other than the known one", function()
  it("is proven in full once (p and (p-1)/2 prime), then remembered in the shared cache", function()
    local cache = A.dh_cache()
    local ga = "\64" .. bytes(255, 9)
    local other = reseal(function(a) return set_ga(ga)(set_g(2)(set_prime(unhex(OTHER_SAFE_PRIME))(a))) end)
    for _ = 1, 2 do
      -- The client accepts the prime and g and answers; the in-memory server keeps using the known
      -- prime, so the keys differ and the client stops at the hash of dh_gen_ok.
      local r = exchange{ dh_cache = cache, tamper = { [2] = other } }
      assert.equal("new_nonce_hash1 mismatch", r.err)
      assert.equal(1, cache:count())
    end
    -- the known prime needs no proof and is not cached
    local known = A.dh_cache()
    assert.is_true(exchange{ dh_cache = known }.done)
    assert.equal(0, known:count())
    assert.has_error(function() A.client{ dh_cache = {} } end,
      "bad argument #1 to 'client' (options.dh_cache must come from core.auth.dh_cache())")
  end)
end)

describe("the server side", function()
  -- Plays a client by hand up to req_DH_params with the given p_q_inner_data constructor.
  local function req_dh(s, ctor, dc, expires_in)
    local nonce, new_nonce = bytes(16, 1), bytes(32, 2)
    local _, res = s:step(unhex("F18E7EBE") .. nonce, NOW)
    local sn, pqb = res:sub(21, 36), res:sub(37, 48)
    local p, q = A.factor_pq((string.unpack(">I8", res, 38)))
    local tp, tq = tlbytes((">I4"):pack(p)), tlbytes((">I4"):pack(q))
    local inner = unhex(ctor) .. pqb .. tp .. tq .. nonce .. sn .. new_nonce
      .. (dc and ("<i4"):pack(dc) or "") .. (expires_in and ("<i4"):pack(expires_in) or "")
    local req = unhex("BEE412D7") .. nonce .. sn .. tp .. tq .. ("<i8"):pack(FP) .. tlbytes(A.rsa_pad(PUB, inner))
    return nonce, new_nonce, sn, s:step(req, NOW + 1)
  end

  it("accepts p_q_inner_data, _dc, _temp and _temp_dc and answers with g = 3 and the known prime", function()
    for _, v in ipairs { { "EC5AC983" }, { "955FF5A9", 2 }, { "D4846A3C", nil, 600 }, { "88DFFD56", -3, 600 } } do
      local s = A.server{ key_pem = PRIV }
      local nonce, new_nonce, sn, st, ok = req_dh(s, v[1], v[2], v[3])
      assert.equal("send", st, ok)
      local k, iv = tmp_key_iv(new_nonce, sn)
      local plain = C.ige_decrypt(k, iv, ok:sub(41, 40 + 592))
      assert.equal(hex(C.sha1(plain:sub(21, 20 + 564))), hex(plain:sub(1, 20)))
      assert.equal("BA0D89B5", hex(plain:sub(21, 24)))
      assert.equal(hex(nonce .. sn), hex(plain:sub(25, 56)))
      assert.equal(3, (string.unpack("<i4", plain, 57)))
      assert.equal(KNOWN_PRIME, hex(plain:sub(65, 320)))
      assert.equal(NOW + 1, (string.unpack("<i4", plain, 581)))
    end
  end)

  it("refuses a temporary key without a positive expires_in, and an unknown inner constructor", function()
    local _, _, _, st, err = req_dh(A.server{ key_pem = PRIV }, "D4846A3C", nil, 0)
    assert.is_nil(st)
    assert.same({ -20, "HANDSHAKE_FAILED", "expires_in must be positive" }, { err.code, err.message, err.detail })
    _, _, _, _, err = req_dh(A.server{ key_pem = PRIV }, "00000000")
    assert.same({ -20, "HANDSHAKE_FAILED", "expected p_q_inner_data" }, { err.code, err.message, err.detail })
  end)

  it("refuses anything but req_pq_multi (or req_pq) first", function()
    local s = A.server{ key_pem = PRIV }
    assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "expected req_pq_multi"), { s:step(unhex("BEE412D7") .. bytes(16), NOW) })
    assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "expected req_pq_multi"), { A.server{ key_pem = PRIV }:step(nil, NOW) })
    assert.equal("send", (A.server{ key_pem = PRIV }:step(unhex("78974660") .. bytes(16), NOW)))
  end)
end)

describe("RSA_PAD", function()
  it("round-trips through the private key with the padding in place, and differs per temp_key", function()
    local data = bytes(100, 3)
    local r1 = bytes(92, 4) .. ("\17"):rep(32) .. bytes(512, 5)
    local r2 = bytes(92, 4) .. ("\18"):rep(32) .. bytes(512, 5)
    local e1, e2 = A.rsa_pad(PUB, data, r1), A.rsa_pad(PUB, data, r2)
    assert.equal(256, #e1)
    assert.are_not.equal(e1, e2)
    assert.equal(hex(data .. bytes(92, 4)), hex(A.rsa_unpad(PRIV, e1)))
    assert.equal(hex(data .. bytes(92, 4)), hex(A.rsa_unpad(PRIV, e2)))
    assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "RSA_PAD hash mismatch"), { A.rsa_unpad(PRIV, e1:sub(1, 255) .. string.char(e1:byte(256) ~ 1)) })
    assert.has_error(function() A.rsa_pad(PUB, ("x"):rep(145)) end)
  end)
end)

describe("pq factoring (Pollard-Brent)", function()
  it("splits published and edge-case pq into p < q", function()
    assert.same({ 1513098571, 1780931429 }, { A.factor_pq(2694724800268887959) }) -- the current sample
    assert.same({ 1229739323, 1402015859 }, { A.factor_pq(0x17ED48941A08F981) })  -- the older sample
    assert.same({ 3, 5 }, { A.factor_pq(15) })
    assert.same({ 2, 1000000007 }, { A.factor_pq(2000000014) })
    assert.same({ 2147483629, 2147483647 }, { A.factor_pq(2147483629 * 2147483647) })
    assert.same({ 3037000493, 3037000493 }, { A.factor_pq(3037000493 * 3037000493) })
  end)
  it("refuses what is not a product of two primes", function()
    -- 9223372036854775783 is the largest prime below 2^63: refused at once, not after 2^32 steps
    for _, v in ipairs { 0, 1, 2, 3, 7, 2147483647, 8 * 1000000007, 3 * 5 * 7, 9223372036854775783,
                         -1, 4294967291 * 15 } do
      assert.same(helpers.nil_err(-20, "HANDSHAKE_FAILED", "pq is not a product of two primes"), { A.factor_pq(v) }, tostring(v))
    end
  end)
end)

describe("plain messages", function()
  it("wrap and unwrap", function()
    local m = A.plain_wrap(0x65C53D500006720C, "abcd")
    assert.equal("00000000000000000C72060050" .. "3DC56504000000" .. "61626364", hex(m))
    local id, body = A.plain_unwrap(m)
    assert.equal(0x65C53D500006720C, id)
    assert.equal("abcd", body)
  end)
  it("reject what is not a plain message", function()
    assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "input is truncated"), { A.plain_unwrap(("\0"):rep(19)) })
    assert.same(helpers.nil_err(-6, "PROTOCOL_ERROR", "not a plain message (auth_key_id is not 0)"), { A.plain_unwrap("\1" .. ("\0"):rep(23)) })
    assert.same(helpers.nil_err(-2, "INPUT_TRUNCATED", "input is truncated"), { A.plain_unwrap(("\0"):rep(16) .. "\5\0\0\0abcd") })
  end)
end)

describe("server public keys", function()
  local PROD = "E8BB3305C0B52C6CF2AFDF7637313489E63E05268E5BADB601AF417786472E5F93B85438968E20E6729A301C0AFC121BF7151F834436F7FDA680847A66BF64ACCEC78EE21C0B316F0EDAFE2F41908DA7BD1F4A5107638EEB67040ACE472A14F90D9F7C2B7DEF99688BA3073ADB5750BB02964902A359FE745D8170E36876D4FD8A5D41B2A76CBFF9A13267EB9580B2D06D10357448D20D9DA2191CB5D8C93982961CDFDEDA629E37F1FB09A0722027696032FE61ED663DB7A37F6F263D370F69DB53A0DC0A1748BDAAFF6209D5645485E6E001D1953255757E4B8E42813347B11DA6AB500FD0ACE7E6DFA3736199CCAF9397ED0745A427DCFA6CD67BCB1ACFF3"
  local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local function b64(s)
    local out = {}
    for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = a << 16 | (b or 0) << 8 | (c or 0)
      for k = 0, 3 do
        out[#out + 1] = (k <= 1 or (k == 2 and b) or (k == 3 and c)) and B64:sub((n >> (18 - 6 * k) & 63) + 1, (n >> (18 - 6 * k) & 63) + 1) or "="
      end
    end
    local txt = table.concat(out)
    return (txt:gsub(("."):rep(64), "%0\n"))
  end
  local function pem(label, der) return ("-----BEGIN %s-----\n%s\n-----END %s-----\n"):format(label, b64(der), label) end
  -- DER written by hand: RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER } and its SPKI wrapper
  local pkcs1 = unhex("3082010A0282010100") .. unhex(PROD) .. unhex("0203010001")
  local spki = unhex("30820122300D06092A864886F70D01010105000382010F00") .. pkcs1

  it("have the published fingerprint whether given as PKCS#1 or SPKI PEM", function()
    assert.equal(-3414540481677951611, A.rsa_fingerprint(pem("RSA PUBLIC KEY", pkcs1)))
    assert.equal(-3414540481677951611, A.rsa_fingerprint(pem("PUBLIC KEY", spki)))
  end)

  it("built in: the client takes the production and the test key by fingerprint", function()
    local base = body_of(unhex(S.res_pq)):sub(1, 48)
    for _, fp in ipairs { -3414540481677951611, -5595554452916591101 } do
      local c = A.client{ random = bytes(2048, 3) }
      local _, first = c:step(nil, NOW)
      local res = base:sub(1, 4) .. first:sub(5, 20) .. base:sub(21) .. unhex("15C4B51C01000000") .. ("<i8"):pack(fp)
      local st, out = c:step(res, NOW)
      assert.equal("send", st, out)
      assert.equal(fp, (string.unpack("<i8", out, 53)))
    end
    -- a client given its own keys does not know the built-in ones
    local c = A.client{ rsa_keys = { pem("PUBLIC KEY", spki) } }
    local _, first = c:step(nil, NOW)
    local res = base:sub(1, 4) .. first:sub(5, 20) .. base:sub(21) .. unhex("15C4B51C01000000") .. ("<i8"):pack(-5595554452916591101)
    assert.same(helpers.nil_err(-19, "RSA_KEY_UNKNOWN", "no known RSA key matches the server's fingerprints"), { c:step(res, NOW) })
  end)
end)

describe("the Lua objects", function()
  it("check their options and close idempotently", function()
    assert.has_error(function() A.client{ rsa_keys = { "junk" } } end,
      "bad argument #1 to 'client' (options.rsa_keys[1] is not a 2048-bit RSA public key in PEM)")
    assert.has_error(function() A.client{ expires_in = -1 } end)
    assert.has_error(function() A.server{ key_pem = "junk" } end,
      "bad argument #1 to 'server' (options.key_pem is not a 2048-bit RSA private key in PEM)")
    local c = A.client{}
    assert.matches("^mtproto.auth.client", tostring(c))
    c:close(); c:close()
    assert.has_error(function() c:step() end, "attempt to use a closed auth client")
    do local s <close> = A.server{ key_pem = PRIV } assert.equal(FP, s:fingerprint()) end
  end)
  it("accept PKCS#1 and SPKI public keys with the same fingerprint", function()
    local s = A.server{ key_pem = PRIV }
    local pem = s:public_pem()
    assert.matches("^%-%-%-%-%-BEGIN RSA PUBLIC KEY%-%-%-%-%-", pem)
    assert.equal(FP, A.rsa_fingerprint(pem))
    assert.equal(FP, A.rsa_fingerprint(PUB))
    assert.same(helpers.nil_err(-4, "RSA_KEY_INVALID", "not a 2048-bit RSA public key in PEM"), { A.rsa_fingerprint("nope") })
  end)
end)

describe("over loopback TCP", function()
  -- luasocket is not a dependency of the library: without it this one is reported pending.
  local have, socket = pcall(require, "socket")
  local run = have and it or pending
  run("client and server agree on a key across a real socket (length-prefixed plain messages)", function()
    local listener = assert(socket.bind("127.0.0.1", 0))
    local _, port = listener:getsockname()
    local cs = assert(socket.connect("127.0.0.1", port))
    local ss = assert(listener:accept())
    cs:settimeout(10); ss:settimeout(10)
    local function send(sock, body, msg_id)
      local m = A.plain_wrap(msg_id, body)
      assert(sock:send(("<I4"):pack(#m) .. m))
    end
    local function recv(sock)
      local h = assert(sock:receive(4))
      local _, body = assert(A.plain_unwrap(assert(sock:receive((string.unpack("<I4", h))))))
      return body
    end
    local c, s = A.client{ rsa_keys = { PUB }, dc_id = 3 }, A.server{ key_pem = PRIV }
    local st, out = c:step()
    local msg_id = (NOW << 32)
    for _ = 1, 3 do
      msg_id = msg_id + 4
      send(cs, out, msg_id)
      local sst, sout = s:step(recv(ss))
      assert.is_truthy(sst, sout)
      send(ss, sout, msg_id + 1)
      st, out = c:step(recv(cs))
      assert.is_truthy(st, out)
      if st == "done" then break end
    end
    cs:close(); ss:close(); listener:close()
    assert.equal("done", st)
    assert.equal(hex(s:result().auth_key), hex(c:result().auth_key))
    assert.equal(3, s:result().dc_id)
  end)
end)
