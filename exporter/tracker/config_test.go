package tracker

import (
	"time"

	"github.com/blueberry-idp/envtrack/config"
)

// loaded is the Config the daemon builds from a config file that sets c's nonzero
// fields only: the others are config's defaults (readiness.provisioning_timeout,
// readiness.url.failures_before_degraded).
func loaded(c Config) Config {
	if c.ProvisioningTimeout == 0 {
		c.ProvisioningTimeout = time.Duration(config.DefaultReadinessConfig.ProvisioningTimeout)
	}
	if c.URLFailuresBeforeDegraded == 0 {
		c.URLFailuresBeforeDegraded = config.DefaultURLConfig.FailuresBeforeDegraded
	}
	return c
}
