-- wrk script for `npm run bench:compare`'s EST window (bench/compare.ts runs it).
--
--   wrk -t1 -c32 -d60s -s bench/est_wrk.lua https://127.0.0.1:PORT/ -- ROWS SAMPLE
--
-- ROWS: one enrollment a line, "userId basicAuthBase64 csrBase64" (a registered user, its
-- one-time passcode, a P-256 CSR of a key made for it). Every row is sent once, as
-- POST /.well-known/est/simpleenroll with Connection: close, so each enrollment opens a new
-- TCP + TLS connection; run with LD_PRELOAD=wrk_fresh_tls.so so that is a full handshake.
-- When every row has its answer the thread stops and wakes wrk's main thread (SIGINT), so the
-- window ends with the table, not with -d (which is only the cap).
-- SAMPLE: a file the body of the first 200 is written to (the bench checks the certificate);
-- the status and body of the first other answer, if any, go to SAMPLE.bad.
--
-- One wrk thread only (-t1): the rows are this thread's, and the thread that finishes must be
-- the last one. One thread handles 32 connections with CPU to spare (the bench reports it).
--
-- Prints one line at the end, read by bench/compare.ts:
--   estload rows=N sent=N answered=N ok=N not_ok=N idle=N connect=N read=N write=N timeout=N statuses=200:N,...
-- ok: status 200 with a body that is base64 DER (a certs-only PKCS#7 starts "MII").
-- idle: connections wrk re-opened after the table was used up; they get a request head that
-- never ends (the server waits, enrolls nothing) and are closed when wrk exits.

local ffi = require("ffi")
ffi.cdef [[
int getpid(void);
int kill(int pid, int sig);
]]

local SIGINT = 2
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  if #threads > 1 then
    error("est_wrk.lua runs with one wrk thread (-t1)")
  end
end

-- The thread's counters are globals: done() reads them with thread:get once the thread ended.
rows = 0
sent, answered, ok, not_ok, idle = 0, 0, 0, 0, 0
statuses = {}
local requests = {}
local sample_path
local verified = false
local sampled = false
local bad_sampled = false

function init(args)
  sample_path = args[2]
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    local user, auth, csr = line:match("^(%S+) (%S+) (%S+)$")
    if user then
      requests[#requests + 1] = wrk.format("POST", "/.well-known/est/simpleenroll", {
        ["Connection"] = "close",
        ["Content-Type"] = "application/pkcs10",
        ["Authorization"] = "Basic " .. auth,
      }, csr)
    end
  end
  f:close()
  rows = #requests
end

-- A request head that never ends: the server reads it and waits for the rest.
local unfinished = "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: " .. tostring(wrk.host) .. "\r\n"

function request()
  -- wrk calls request() once before the thread starts, only to parse it (script_verify_request):
  -- that call must not use a row.
  if not verified then
    verified = true
    return wrk.format("GET", "/.well-known/est/cacerts")
  end
  if sent == rows then
    idle = idle + 1
    return unfinished
  end
  sent = sent + 1
  return requests[sent]
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body:sub(1, 3) == "MII" then
    ok = ok + 1
    if not sampled and sample_path then
      sampled = true
      local f = io.open(sample_path, "w")
      if f then
        f:write(body)
        f:close()
      end
    end
  else
    not_ok = not_ok + 1
    if not bad_sampled and sample_path then
      bad_sampled = true
      local f = io.open(sample_path .. ".bad", "w")
      if f then
        f:write(status, "\n", body)
        f:close()
      end
    end
  end
  if answered == rows then
    wrk.thread:stop()
    ffi.C.kill(ffi.C.getpid(), SIGINT)
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local list = {}
  for s, n in pairs(t:get("statuses") or {}) do
    list[#list + 1] = s .. ":" .. n
  end
  local e = summary.errors
  io.write(string.format("estload rows=%d sent=%d answered=%d ok=%d not_ok=%d idle=%d connect=%d read=%d write=%d timeout=%d statuses=%s\n",
    t:get("rows"), t:get("sent"), t:get("answered"), t:get("ok"), t:get("not_ok"), t:get("idle"),
    e.connect, e.read, e.write, e.timeout, table.concat(list, ",")))
end
