package config

// OwnTypes are the environment types the configuration itself names: the static
// environments' (and their default) and the Argo CD default type. The `type` label
// never folds them into "other".
func (c *Config) OwnTypes() []string {
	own := []string{DefaultStaticEnvironment.Type}
	for _, e := range c.Environments {
		own = append(own, e.Type)
	}
	if c.ArgoCD != nil {
		own = append(own, c.ArgoCD.DefaultType)
	}
	return own
}
