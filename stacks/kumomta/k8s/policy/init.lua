-- kumod's policy for devstack's KumoMTA stack: every message injected over HTTP goes to devstack's sink.
-- Mounted from the ConfigMap kumomta-policy at /opt/kumomta/etc/policy/. Everything that depends on where the
-- stack runs (namespace, host names, trusted networks) comes from the environment the StatefulSet sets, so
-- nothing here names a namespace. A variable read here and not set there is an error at start, not a silent
-- default (the demo read KUMOMTA_TRUSTED_HOSTS while its values set KUMOMTA_SECONDARY_TRUSTED_HOSTS).
local kumo = require 'kumo'
local shaping = require 'policy-extras.shaping'
local queue_module = require 'policy-extras.queue'
local sources = require 'policy-extras.sources'

local POLICY_DIR = '/opt/kumomta/etc/policy/'
local KEYS_DIR = '/opt/kumomta/etc/http_listener_keys/'

-- The value of an environment variable the StatefulSet must set (it may be empty).
local function setting(name)
  local value = os.getenv(name)
  if value == nil then
    error(string.format('%s is not set: the StatefulSet kumomta sets it for this policy', name))
  end
  return value
end

-- A comma-separated setting as a list, without empty items ('' is the empty list).
local function setting_list(name)
  local items = {}
  for item in string.gmatch(setting(name), '[^,%s]+') do
    table.insert(items, item)
  end
  return items
end

sources:setup { POLICY_DIR .. 'sources.toml' }

-- Traffic shaping, automated by the TSA daemons. kumod publishes its logs to every TSA replica through the
-- per-pod names of the headless Service that is the TSA StatefulSet's serviceName, and reads the generated
-- overrides from any one of them.
local shaper = shaping:setup_with_automation {
  publish = setting_list 'KUMOMTA_TSA_PUBLISH_HOSTS',
  subscribe = setting_list 'KUMOMTA_TSA_SUBSCRIBE_HOSTS',
  extra_files = { POLICY_DIR .. 'shaping.toml' },
}

-- Set up after shaping, as the queue helper requires.
local queue_helper = queue_module:setup { POLICY_DIR .. 'queues.toml' }

-- kumod contacts the throttle store while init runs (configure_redis_throttles) and exits when it cannot, so a
-- kumod that starts before its store would crash-loop until it answers. Wait for it here instead, for a bounded
-- time, and say so in the log. `kumod --validate` (which sets _VALIDATING_CONFIG) checks the policy without
-- contacting the store at all, so it passes wherever the policy is valid.
local STORE_WAIT_ATTEMPTS = 150
local STORE_WAIT_SECONDS = 2

local function wait_for_store(url)
  local redis = require 'redis'
  local last_error
  for attempt = 1, STORE_WAIT_ATTEMPTS do
    local ok, err = pcall(function()
      redis.open({ node = url, connect_timeout = '2 seconds' }):query 'PING'
    end)
    if ok then
      return
    end
    last_error = err
    if attempt == 1 then
      print(string.format('waiting for the throttle store at %s: %s', url, tostring(err)))
    end
    kumo.sleep(STORE_WAIT_SECONDS)
  end
  error(string.format('the throttle store at %s did not answer within %d seconds: %s', url,
    STORE_WAIT_ATTEMPTS * STORE_WAIT_SECONDS, tostring(last_error)))
end

kumo.on('init', function()
  -- The spool lives on the replica's PersistentVolumeClaim, mounted at /var/spool/kumomta and writable by the
  -- kumod user through the pod's fsGroup (kumod drops to that user before it opens the spool).
  kumo.define_spool { name = 'data', path = '/var/spool/kumomta/data', kind = 'RocksDB' }
  kumo.define_spool { name = 'meta', path = '/var/spool/kumomta/meta', kind = 'RocksDB' }
  kumo.configure_local_logs { log_dir = '/var/log/kumomta', max_segment_duration = '10 seconds' }

  -- Throttles shared by the replicas, in the Redis-compatible store (dragonfly).
  if not _VALIDATING_CONFIG then
    local store = setting 'KUMOMTA_REDIS_URL'
    wait_for_store(store)
    kumo.configure_redis_throttles { node = store }
  end

  -- Injection API and check-liveness on 8000. Hosts in KUMOMTA_TRUSTED_HOSTS skip basic auth; the stack sets
  -- none, because a port-forward reaches the pod from 127.0.0.1 and would skip it too. kumod serves /metrics
  -- and /api/admin/* only to trusted hosts that send no credentials, so on 8000 they always answer 401.
  kumo.start_http_listener {
    listen = '0.0.0.0:8000',
    trusted_hosts = setting_list 'KUMOMTA_TRUSTED_HOSTS',
  }

  -- Metrics and the admin API on 8001, for KUMOMTA_ADMIN_TRUSTED_HOSTS: the pod networks (a Prometheus in the
  -- cluster scrapes /metrics) and loopback (kcli inside the pod; the StatefulSet sets KUMO_KCLI_ENDPOINT).
  -- Trusted clients need no password here, for injection too, as the pod networks need none to relay by SMTP.
  kumo.start_http_listener {
    listen = '0.0.0.0:8001',
    trusted_hosts = setting_list 'KUMOMTA_ADMIN_TRUSTED_HOSTS',
  }

  -- SMTP injection on 2500. Only KUMOMTA_RELAY_HOSTS may relay (the cluster's pod networks); anyone else is
  -- refused, a port-forwarded client (127.0.0.1 in the pod) included. The demo's commented-out listener relayed
  -- for 0.0.0.0/0: an open relay.
  kumo.start_esmtp_listener {
    listen = '0.0.0.0:2500',
    relay_hosts = setting_list 'KUMOMTA_RELAY_HOSTS',
  }

  kumo.configure_bounce_classifier {
    files = { '/opt/kumomta/share/bounce_classifier/iana.toml' },
  }
  shaper.setup_publish()
end)

-- Every message goes to devstack's sink, whose Service answers on the cluster network only: no TLS to
-- negotiate there. Keyed to the sink, so a destination that is not the sink (none, while the routing below
-- holds) keeps KumoMTA's default of opportunistic TLS.
local SINK_HOST = setting 'KUMOMTA_SINK_HOST'
kumo.on('get_egress_path_config', function(domain, egress_source, site_name)
  local params = shaper.get_egress_path_config(domain, egress_source, site_name, true)
  if domain == SINK_HOST then
    params.enable_tls = 'Disabled'
  end
  return kumo.make_egress_path(params)
end)

-- Every message, injected over HTTP or received by SMTP, is queued by tenant and then routed to the sink.
-- routing_domain keeps the recipient's domain as the queue name while the delivery goes to the sink's Service
-- (port 25). Without this, kumod delivers what it receives by SMTP to the recipient domain's MX: off the machine.
local function route_to_sink(msg)
  queue_helper:apply(msg)
  msg:set_meta('routing_domain', SINK_HOST)
end

-- Messages injected over HTTP are made conformant first (the builder leaves Date, Message-ID to the policy).
kumo.on('http_message_generated', function(msg)
  local failed = msg:check_fix_conformance(
    'MISSING_COLON_VALUE',
    'LINE_TOO_LONG|NAME_ENDS_WITH_SPACE|NEEDS_TRANSFER_ENCODING|NON_CANONICAL_LINE_ENDINGS|'
      .. 'MISSING_DATE_HEADER|MISSING_MESSAGE_ID_HEADER|MISSING_MIME_VERSION'
  )
  if failed then
    kumo.reject(552, string.format('5.6.0 %s', failed))
  end
  route_to_sink(msg)
end)

kumo.on('smtp_server_message_received', function(msg)
  route_to_sink(msg)
end)

-- Basic auth for the HTTP listener: the Secret http-listener-keys is mounted at KEYS_DIR, one file per user
-- holding that user's passwords, one per line. The user name is checked before it becomes part of a path, so
-- a name such as '../../etc/passwd' cannot make another file a key file.
local function check_key(user, password)
  if not string.match(user, '^[%w_][%w._-]*$') then
    return false
  end
  local file = io.open(KEYS_DIR .. user, 'r')
  if file == nil then
    return false
  end
  local found = false
  for line in file:lines() do
    if line ~= '' and line == password then
      found = true
    end
  end
  file:close()
  return found
end

local cached_check_key = kumo.memoize(check_key, { name = 'http_listener_keys', ttl = '1 minute', capacity = 64 })

kumo.on('http_server_validate_auth_basic', function(user, password)
  return cached_check_key(user, password)
end)
