package argocd

import "github.com/blueberry-idp/envtrack/config"

// defaultMapping is the mapping of config's defaults (DESIGN §8).
func defaultMapping() Mapping { return newMapping(config.DefaultArgoCDConfig, nil) }
