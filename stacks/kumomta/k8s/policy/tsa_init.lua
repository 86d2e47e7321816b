-- tsa-daemon's policy for devstack's KumoMTA stack. Mounted from the ConfigMap tsa-policy.
local kumo = require 'kumo'
local tsa = require 'tsa'

-- Clients that may publish logs and read the generated config without auth: kumod's pods and the kubelet's
-- readiness probe (KUMOMTA_TSA_TRUSTED_HOSTS, set by the StatefulSet kumomta-tsa).
local function trusted_hosts()
  local hosts = {}
  for item in string.gmatch(os.getenv 'KUMOMTA_TSA_TRUSTED_HOSTS' or '127.0.0.1,::1', '[^,%s]+') do
    table.insert(hosts, item)
  end
  return hosts
end

kumo.on('tsa_init', function()
  -- On the pod's own volume: the state is rebuilt from the logs kumod publishes.
  tsa.configure_tsa_db_path '/var/spool/kumomta/tsa.db'
  tsa.start_http_listener { listen = '0.0.0.0:8008', trusted_hosts = trusted_hosts() }
end)

local cached_load_shaping_data = kumo.memoize(kumo.shaping.load, {
  name = 'tsa_load_shaping_data',
  ttl = '5 minutes',
  capacity = 4,
})

kumo.on('tsa_load_shaping_data', function()
  return cached_load_shaping_data {
    '/opt/kumomta/share/policy-extras/shaping.toml',
    '/opt/kumomta/etc/policy/shaping.toml',
  }
end)
