// Package phases lists the deployment's phases in the order `up` runs them. Each phase is
// a package below this one that only declares resources; the engine (internal/engine)
// decides what to call, and commands run operations (rollout, rotation, status, build)
// from packages of their own.
//
// The tree:
//
//	phases/          the registry (All, Lookup, Deleters)
//	phases/kit       what every phase uses: Inputs, the keys and names another phase
//	                 depends on (keys.go, names.go), ownership tags and the "is it ours"
//	                 check (ownership.go), tag converters, AWS error helpers, the
//	                 "by recorded ID, else by tags or name, then 0/1/many" lookups
//	phases/kinds     resource kinds more than one phase declares (IAM role, log group,
//	                 log bucket, target group, Lambda function, secret helpers)
//	phases/network, secrets, cluster, image, edge, observability, cicd
//	                 one package per phase: Phase() says what it is, Declare lists its
//	                 resources for a config, Deleters (where a config can switch a kind
//	                 off) a resource of every type it can declare; one file per kind,
//	                 and its tests (package network_test …), which run phases through
//	                 the engine against moto
//	phases/phasetest what those tests share: moto, an environment's Inputs on it, the
//	                 engine over the phases, fakes of what one phase needs of another
//
// A phase never imports another: what one needs of another (the VPC's ID, the target
// group's ARN) comes from the engine's dependency records, by key (kit.KeyVPC), in the
// engine.Deps its Find and Create get.
//
// # Adding a resource kind
//
//  1. Pick the phase whose architecture it belongs to, and add one file there named
//     after the kind (network/vpc.go).
//  2. Write the narrow SDK interface it calls (vpcAPI: the exact methods, nothing more);
//     the clients in Inputs.AWS satisfy it, and a test can stub it.
//  3. Write the resource: a struct holding *kit.Inputs and that interface, implementing
//     engine.Resource:
//     - Key: "<phase>/<name>", a constant in the file; in kit/keys.go only when another
//     phase depends on it.
//     - Type: "<service>:<kind>", which destroy uses to find a deleter for a state record.
//     - DependsOn: the keys whose records Find and Create read from engine.Deps.
//     - Find: by the recorded ID, else by fvdeploy's tags or the name (kit.FindEC2,
//     kit.FindTagged, kit.FindByName); an object found by name alone is adopted only
//     through Inputs.Claim. Report each difference from the config as an engine.Change,
//     and set Replace when it cannot be updated in place.
//     - Create: with the tags of Inputs.Tags(key), and Inputs.ClientToken(key) where the
//     API takes an idempotency token; wrap errors with what was being made.
//     - Update: only what Find reported; Delete: from the state record alone.
//  4. Add it to the phase's Declare (and to Deleters when a config can switch it off, so
//     that an object made before is still deleted).
//  5. Test it in the phase's package (vpc.go's in network_test.go) against moto: up,
//     re-run with no change, drift repaired, destroy; a lost answer (internal/testenv's
//     LossyProxy) must not make a second object.
package phases
