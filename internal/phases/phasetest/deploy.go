package phasetest

func DeploymentAlarmsOf(env string) []string {
	return []string{"fastapi-vars-" + env + "-alb-5xx-target", "fastapi-vars-" + env + "-alb-p95-latency"}
}
