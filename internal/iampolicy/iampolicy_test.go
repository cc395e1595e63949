package iampolicy

import (
	"net/url"
	"strings"
	"testing"
)

const roleARN = "arn:aws:iam::123456789012:role/app-prod-task"

func TestEvaluate(t *testing.T) {
	for name, tc := range map[string]struct {
		policies []string
		req      Request
		want     Decision
	}{
		"nothing allows it": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`},
			req:      Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k"}, want: ImplicitDeny,
		},
		"statement as an object, action and resource as strings": {
			policies: []string{`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`},
			req:      Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}, want: Allow,
		},
		"actions match case-insensitively": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":["ECS:updateservice"],"Resource":["*"]}]}`},
			req:      Request{Action: "ecs:UpdateService", Resource: "x"}, want: Allow,
		},
		"action wildcards": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecr:Batch*","Resource":"*"}]}`},
			req:      Request{Action: "ecr:BatchGetImage", Resource: "x"}, want: Allow,
		},
		"? is one character": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecs:?escribeServices","Resource":"*"}]}`},
			req:      Request{Action: "ecs:DDescribeServices", Resource: "x"}, want: ImplicitDeny,
		},
		"a wildcard in another service does not match": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}`},
			req:      Request{Action: "ecs:UpdateService", Resource: "x"}, want: ImplicitDeny,
		},
		"resources match case-sensitively": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecs:UpdateService","Resource":"arn:aws:ecs:us-east-1:1:service/C/S"}]}`},
			req:      Request{Action: "ecs:UpdateService", Resource: "arn:aws:ecs:us-east-1:1:service/c/s"}, want: ImplicitDeny,
		},
		"a resource wildcard spans the revision": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecs:RegisterTaskDefinition","Resource":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}]}`},
			req:      Request{Action: "ecs:RegisterTaskDefinition", Resource: "arn:aws:ecs:us-east-1:1:task-definition/app-prod:7"}, want: Allow,
		},
		"another family is outside it": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecs:RegisterTaskDefinition","Resource":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}]}`},
			req:      Request{Action: "ecs:RegisterTaskDefinition", Resource: "arn:aws:ecs:us-east-1:1:task-definition/app-prod-evil:7"}, want: ImplicitDeny,
		},
		"explicit deny wins over an allow in another policy": {
			policies: []string{
				`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
				`{"Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`,
			},
			req: Request{Action: "iam:PassRole", Resource: roleARN}, want: ExplicitDeny,
		},
		"NotAction allows everything but it": {
			policies: []string{`{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`},
			req:      Request{Action: "iam:PassRole", Resource: roleARN}, want: ImplicitDeny,
		},
		"NotAction allows the rest": {
			policies: []string{`{"Statement":[{"Effect":"Allow","NotAction":["iam:*"],"Resource":"*"}]}`},
			req:      Request{Action: "ecs:ListTasks", Resource: "*"}, want: Allow,
		},
		"NotResource": {
			policies: []string{`{"Statement":[{"Effect":"Deny","Action":"iam:PassRole","NotResource":"` + roleARN + `"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}`},
			req:      Request{Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/admin"}, want: ExplicitDeny,
		},
		"NotResource leaves its own resource to the allow": {
			policies: []string{`{"Statement":[{"Effect":"Deny","Action":"iam:PassRole","NotResource":"` + roleARN + `"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}`},
			req:      Request{Action: "iam:PassRole", Resource: roleARN}, want: Allow,
		},
		"StringEquals holds": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}), want: Allow,
		},
		"StringEquals is case-sensitive on values": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ECS-tasks.amazonaws.com"}}), want: ImplicitDeny,
		},
		"condition key names are case-insensitive": {
			policies: []string{passRole(`"StringEquals":{"IAM:passedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}), want: Allow,
		},
		"StringEquals to another service": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}), want: ImplicitDeny,
		},
		"a missing key fails a positive operator": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(nil), want: ImplicitDeny,
		},
		"a missing key passes IfExists": {
			policies: []string{passRole(`"StringEqualsIfExists":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(nil), want: Allow,
		},
		"IfExists still compares a present key": {
			policies: []string{passRole(`"StringEqualsIfExists":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}), want: ImplicitDeny,
		},
		"a missing key passes a negated operator": {
			policies: []string{passRole(`"StringNotEquals":{"iam:PassedToService":"lambda.amazonaws.com"}`)},
			req:      passReq(nil), want: Allow,
		},
		"StringNotEquals refuses the value it names": {
			policies: []string{passRole(`"StringNotEquals":{"iam:PassedToService":["lambda.amazonaws.com","ec2.amazonaws.com"]}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}}), want: ImplicitDeny,
		},
		"several values are alternatives": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":["lambda.amazonaws.com","ecs-tasks.amazonaws.com"]}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}), want: Allow,
		},
		"several keys must all hold": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com","aws:RequestedRegion":"us-east-1"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}, "aws:RequestedRegion": {"eu-west-1"}}), want: ImplicitDeny,
		},
		"several operators must all hold": {
			policies: []string{passRole(`"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"},"Bool":{"aws:SecureTransport":"true"}`)},
			req:      passReq(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}, "aws:SecureTransport": {"false"}}), want: ImplicitDeny,
		},
		"Bool with a JSON boolean": {
			policies: []string{passRole(`"Bool":{"aws:SecureTransport":true}`)},
			req:      passReq(map[string][]string{"aws:SecureTransport": {"true"}}), want: Allow,
		},
		"StringLike with a tag pattern": {
			policies: []string{passRole(`"StringLike":{"token:sub":"repo:a/b:ref:refs/tags/v*"}`)},
			req:      passReq(map[string][]string{"token:sub": {"repo:a/b:ref:refs/tags/v1.2.3"}}), want: Allow,
		},
		"StringNotLike": {
			policies: []string{passRole(`"StringNotLike":{"token:sub":"repo:a/b:*"}`)},
			req:      passReq(map[string][]string{"token:sub": {"repo:a/b:ref:refs/heads/main"}}), want: ImplicitDeny,
		},
		"ArnLike on the task definition family": {
			policies: []string{updateService(`"ArnLike":{"ecs:task-definition":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}`)},
			req:      updateReq("arn:aws:ecs:us-east-1:1:task-definition/app-prod:12"), want: Allow,
		},
		"ArnLike refuses another family": {
			policies: []string{updateService(`"ArnLike":{"ecs:task-definition":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}`)},
			req:      updateReq("arn:aws:ecs:us-east-1:1:task-definition/other:3"), want: ImplicitDeny,
		},
		"ArnLike wildcards stay within a part": {
			policies: []string{updateService(`"ArnLike":{"ecs:task-definition":"arn:aws:ecs:*:1:task-definition/app-prod:*"}`)},
			req:      updateReq("arn:aws:ecs:us-east-1:2:task-definition/app-prod:3"), want: ImplicitDeny,
		},
		"ArnLike needs an ARN": {
			policies: []string{updateService(`"ArnLike":{"ecs:task-definition":"*"}`)},
			req:      updateReq("app-prod:3"), want: ImplicitDeny,
		},
		"ArnEquals": {
			policies: []string{updateService(`"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:1:cluster/c"}`)},
			req:      Request{Action: "ecs:UpdateService", Resource: "s", Context: map[string][]string{"ecs:cluster": {"arn:aws:ecs:us-east-1:1:cluster/c"}}}, want: Allow,
		},
		"ArnNotLike": {
			policies: []string{updateService(`"ArnNotLike":{"ecs:task-definition":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}`)},
			req:      updateReq("arn:aws:ecs:us-east-1:1:task-definition/app-prod:12"), want: ImplicitDeny,
		},
		"Null true: the key must be absent": {
			policies: []string{passRole(`"Null":{"aws:SourceIp":"true"}`)},
			req:      passReq(map[string][]string{"aws:SourceIp": {"10.0.0.1"}}), want: ImplicitDeny,
		},
		"Null false: the key must be present": {
			policies: []string{passRole(`"Null":{"aws:SourceIp":"false"}`)},
			req:      passReq(map[string][]string{"aws:SourceIp": {"10.0.0.1"}}), want: Allow,
		},
		"a conditional deny only where it holds": {
			policies: []string{`{"Statement":[{"Effect":"Allow","Action":"ecs:*","Resource":"*"},{"Effect":"Deny","Action":"ecs:UpdateService","Resource":"*","Condition":{"ArnNotLike":{"ecs:task-definition":"arn:aws:ecs:us-east-1:1:task-definition/app-prod:*"}}}]}`},
			req:      updateReq("arn:aws:ecs:us-east-1:1:task-definition/app-prod:2"), want: Allow,
		},
	} {
		t.Run(name, func(t *testing.T) {
			var ps []*Policy
			for _, doc := range tc.policies {
				p, err := Parse("p", doc)
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			got, err := Evaluate(ps, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision != tc.want {
				t.Errorf("%+v: %s, want %s", tc.req, got.Decision, tc.want)
			}
			if (got.Decision == ImplicitDeny) != (len(got.Statements) == 0) {
				t.Errorf("%s names statements %v", got.Decision, got.Statements)
			}
		})
	}
}

func passRole(cond string) string {
	return `{"Statement":[{"Sid":"Pass","Effect":"Allow","Action":"iam:PassRole","Resource":"` + roleARN + `","Condition":{` + cond + `}}]}`
}

func passReq(ctx map[string][]string) Request {
	return Request{Action: "iam:PassRole", Resource: roleARN, Context: ctx}
}

func updateService(cond string) string {
	return `{"Statement":[{"Effect":"Allow","Action":"ecs:UpdateService","Resource":"*","Condition":{` + cond + `}}]}`
}

func updateReq(td string) Request {
	return Request{Action: "ecs:UpdateService", Resource: "s", Context: map[string][]string{"ecs:task-definition": {td}}}
}

func TestParseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"not JSON":                {`{"Statement":`, "parsing policy p"},
		"no statement":            {`{"Version":"2012-10-17"}`, "no Statement"},
		"an unknown operator":     {passRole(`"NumericLessThan":{"s3:max-keys":"10"}`), `"NumericLessThan" is not supported`},
		"a set operator":          {passRole(`"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}`), "is not supported"},
		"a principal":             {`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`, `unsupported element "Principal"`},
		"a bad effect":            {`{"Statement":[{"Effect":"allow","Action":"s3:*","Resource":"*"}]}`, "neither Allow nor Deny"},
		"no action":               {`{"Statement":[{"Effect":"Allow","Resource":"*"}]}`, "Action and NotAction"},
		"action and NotAction":    {`{"Statement":[{"Effect":"Allow","Action":"a:b","NotAction":"a:c","Resource":"*"}]}`, "Action and NotAction"},
		"no resource":             {`{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}`, "Resource and NotResource"},
		"a policy variable":       {`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`, "policy variable"},
		"a number as an action":   {`{"Statement":[{"Effect":"Allow","Action":7,"Resource":"*"}]}`, "neither a string nor a list"},
		"an object as a value":    {passRole(`"StringEquals":{"k":{"a":"b"}}`), "is not a string, boolean or number"},
		"a bad URL-encoded input": {"%7B%ZZ", "decoding it"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("p", tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// IAM answers GetRolePolicy URL-encoded.
func TestParseURLEncoded(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"Roll","Effect":"Allow","Action":["ecs:UpdateService"],"Resource":["arn:aws:ecs:us-east-1:1:service/c/s"]}]}`
	p, err := Parse("inline", url.QueryEscape(doc))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate([]*Policy{p}, Request{Action: "ecs:UpdateService", Resource: "arn:aws:ecs:us-east-1:1:service/c/s"})
	if err != nil || res.Decision != Allow || len(res.Statements) != 1 || res.Statements[0] != "inline/Roll" {
		t.Errorf("%+v %v", res, err)
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything:at/all", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*b", "abxbyb", true},
		{"a", "A", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %t", tc.pattern, tc.s, got)
		}
	}
}
