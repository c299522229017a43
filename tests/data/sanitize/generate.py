import random, string, base64, json, os, sys
R = random.Random(20261129)
AN = string.ascii_letters + string.digits
UP = string.ascii_uppercase + string.digits
HEX = '0123456789abcdef'
B64 = AN + '+/'
URL = AN + '-_'
def r(al, n): return ''.join(R.choice(al) for _ in range(n))
def esc(s): return s.replace('\\','\\\\').replace('\n','\\n').replace('\t','\\t').replace('\r','\\r')
out = {}
def case(f, exp, text): out.setdefault(f, []).append((exp, text))
def comment(f, text): out.setdefault(f, []).append(('#', text))

# ---- aws
f='aws'
comment(f,'AWS access key ids, secret keys and session tokens; the documented AKIAIOSFODNN7EXAMPLE pair is a placeholder.')
ak = lambda p='AKIA': p + r('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)
sk = lambda: r(B64, 40)
case(f,'aws-access-key-id', f'aws_access_key_id = {ak()}')
case(f,'aws-access-key-id', f'"AccessKeyId": "{ak("ASIA")}",')
case(f,'aws-access-key-id', f'const client = new S3Client({{ credentials: {{ accessKeyId: "{ak()}", secretAccessKey }} }});')
case(f,'aws-access-key-id', f'export AWS_ACCESS_KEY_ID={ak()}')
case(f,'aws-access-key-id', f'https://bucket.s3.amazonaws.com/x?X-Amz-Credential={ak("ASIA")}%2F20240101%2Fus-east-1')
case(f,'aws-secret-access-key', f'[default]\\naws_access_key_id = {ak()}\\naws_secret_access_key = {sk()}\\nregion = eu-west-1')
case(f,'aws-secret-access-key', f'aws_secret_access_key={sk()}')
case(f,'aws-secret-access-key', f'AWS_SECRET_ACCESS_KEY="{sk()}"')
case(f,'aws-secret-access-key', f'{{"AccessKeyId": "{ak("ASIA")}", "SecretAccessKey": "{sk()}"}}')
case(f,'aws-secret-access-key', f"  secretAccessKey: '{sk()}',")
case(f,'aws-secret-access-key', f'session = boto3.Session(aws_secret_access_key="{sk()}")')
case(f,'aws-secret-access-key', f'aws_secret_key: {sk()}')
case(f,'aws-session-token', f'aws_session_token = {"FwoGZXIvYXdzE" + r(B64, 300)}')
case(f,'aws-session-token', f'AWS_SESSION_TOKEN="IQoJb3JpZ2luX2Vj{r(B64, 220)}"')
case(f,'none', 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE')
case(f,'none', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')
case(f,'none', 'aws_access_key_id = AKIAXXXXXXXXXXXXXXXX')
case(f,'none', 'aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}')
case(f,'none', 'secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,')
case(f,'none', '  secretAccessKey: string;')
case(f,'none', 'const AKIA_PREFIX = "AKIA"; // access key ids start with AKIA or ASIA')
case(f,'none', f'commit {r(HEX,40)} Merge pull request #42 from octo/akia-parser')
case(f,'none', 'aws_secret_access_key = <your secret access key>')
case(f,'none', 'AWS_SECRET_ACCESS_KEY=YOUR_SECRET_ACCESS_KEY_GOES_HERE_12345678')
case(f,'none', 'region = us-east-1\\noutput = json')

# ---- github
f='github'
comment(f,'GitHub tokens: classic and fine-grained.')
gh = lambda p: p + r(AN, 36)
for p in ['ghp_','gho_','ghu_','ghs_','ghr_']:
    case(f,'github-token', f'GITHUB_TOKEN={gh(p)}')
case(f,'github-token', f'const octokit = new Octokit({{ auth: "{gh("ghp_")}" }});')
case(f,'github-token', f'git clone https://x-access-token:{gh("ghs_")}@github.com/octo/private.git')
case(f,'github-token', f'token {gh("ghp_")}')
fg = lambda: 'github_pat_' + r(AN, 22) + '_' + r(AN, 59)
case(f,'github-fine-grained-token', f'export GH_TOKEN={fg()}')
case(f,'github-fine-grained-token', f'{{"token": "{fg()}"}}')
case(f,'github-fine-grained-token', f'Use {fg()} for the release job')
case(f,'none', 'GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
case(f,'none', 'token: ${{ secrets.GITHUB_TOKEN }}')
case(f,'none', 'const prefix = "ghp_"; if (token.startsWith(prefix)) return "classic";')
case(f,'none', 'github_pat_ tokens are fine-grained; ghp_ tokens are classic')
case(f,'none', f'ghp_{r(AN,20)} is too short to be a token')
case(f,'none', 'GH_TOKEN=<your-github-token>')
case(f,'none', f'sha: "{r(HEX,40)}"  # git commit hash')

# ---- gitlab
f='gitlab'
gl = lambda p='glpat-': p + r(URL, 20)
case(f,'gitlab-token', f'GITLAB_TOKEN={gl()}')
case(f,'gitlab-token', f'curl --header "PRIVATE-TOKEN: {gl()}" https://gitlab.com/api/v4/projects')
case(f,'gitlab-token', f'deploy token: {gl("gldt-")}')
case(f,'gitlab-token', f'runner_token = "{gl("glrt-")}"')
case(f,'gitlab-token', f'gitlab-runner register --registration-token GR1348941{r(URL,20)}')
case(f,'gitlab-token', f'trigger: {gl("glptt-")}')
case(f,'gitlab-token', f'{{"token": "glpat-{r(URL,27)}.01.{r(AN,9)}"}}')
case(f,'none', 'GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx')
case(f,'none', 'Personal access tokens start with glpat- and deploy tokens with gldt-.')
case(f,'none', 'const GLPAT = /glpat-[0-9a-zA-Z_-]{20}/;')

# ---- slack
f='slack'
case(f,'slack-token', f'SLACK_BOT_TOKEN=xoxb-{r(string.digits,12)}-{r(string.digits,13)}-{r(AN,24)}')
case(f,'slack-token', f'client = WebClient(token="xoxp-{r(string.digits,12)}-{r(string.digits,12)}-{r(string.digits,13)}-{r(HEX,32)}")')
case(f,'slack-token', f'app token: xapp-1-A{r(UP,10)}-{r(string.digits,13)}-{r(HEX,64)}')
case(f,'slack-token', f'refresh = "xoxe-1-{r(AN,140)}"')
case(f,'slack-webhook-url', f'SLACK_WEBHOOK=https://hooks.slack.com/services/T{r(UP,8)}/B{r(UP,10)}/{r(AN,24)}')
case(f,'slack-webhook-url', f'fetch("https://hooks.slack.com/workflows/T{r(UP,8)}/A{r(UP,10)}/{r(string.digits,18)}/{r(AN,24)}", {{method: "POST"}})')
case(f,'none', 'SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX')
case(f,'none', 'SLACK_BOT_TOKEN=xoxb-your-bot-token')
case(f,'none', 'if (token.startsWith("xoxb-")) kind = "bot";')
case(f,'none', 'See https://api.slack.com/authentication/token-types for xoxp- and xoxb- tokens.')

# ---- stripe
f='stripe'
case(f,'stripe-key', f'STRIPE_SECRET_KEY=sk_live_{r(AN,99)}')
case(f,'stripe-key', f'const stripe = require("stripe")("sk_test_{r(AN,24)}");')
case(f,'stripe-key', f'restricted: rk_live_{r(AN,24)}')
case(f,'stripe-key', f'endpointSecret = "whsec_{r(B64,32)}"')
case(f,'none', 'const stripe = Stripe("pk_live_' + r(AN,24) + '"); // publishable keys are public')
case(f,'none', 'STRIPE_SECRET_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx')
case(f,'none', 'stripe keys look like sk_live_... or sk_test_...')
case(f,'none', 'task_live_status = "running"')

# ---- openai / anthropic
f='llm-providers'
case(f,'openai-api-key', f'OPENAI_API_KEY=sk-proj-{r(URL,74)}T3BlbkFJ{r(URL,74)}')
case(f,'openai-api-key', f'client = OpenAI(api_key="sk-{r(AN,20)}T3BlbkFJ{r(AN,20)}")')
case(f,'openai-api-key', f'const openai = new OpenAI({{ apiKey: "sk-{r(AN,48)}" }});')
case(f,'openai-api-key', f'sk-svcacct-{r(URL,60)}T3BlbkFJ{r(URL,60)}')
case(f,'openai-api-key', f'admin key sk-admin-{r(URL,58)}T3BlbkFJ{r(URL,58)}')
case(f,'anthropic-api-key', f'ANTHROPIC_API_KEY=sk-ant-api03-{r(URL,93)}AA')
case(f,'anthropic-api-key', f'const anthropic = new Anthropic({{ apiKey: "sk-ant-api03-{r(URL,93)}AA" }});')
case(f,'anthropic-api-key', f'x-api-key: sk-ant-admin01-{r(URL,93)}AA')
case(f,'none', 'OPENAI_API_KEY=sk-...')
case(f,'none', 'OPENAI_API_KEY=sk-proj-your-project-key-here-xxxxxxxxxxxxxxxxxxxxxx')
case(f,'none', 'const key = process.env.OPENAI_API_KEY ?? "sk-placeholder";')
case(f,'none', 'ANTHROPIC_API_KEY=sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
case(f,'none', 'const taskSkProjectNames = ["sk-proj-alpha-frontend-dashboard-service", "sk-proj-beta"];')
case(f,'none', '--model claude-3-5-sonnet --max-tokens 1024')

# ---- google
f='google'
MAGIC = {'RSA PRIVATE KEY': 'MIIEowIBAAKCAQEA', 'PRIVATE KEY': 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC',
         'EC PRIVATE KEY': 'MHcCAQEEI', 'OPENSSH PRIVATE KEY': 'b3BlbnNzaC1rZXktdjEAAAAA',
         'ENCRYPTED PRIVATE KEY': 'MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI'}
def pem(kind='PRIVATE KEY', nl='\n', lines=25):
    m = MAGIC.get(kind, '')
    body = nl.join(r(B64,64) for _ in range(lines))
    body = m + body[len(m):]
    return f'-----BEGIN {kind}-----{nl}{body}{nl}{r(B64,20)}=={nl}-----END {kind}-----{nl}'
case(f,'google-api-key', f'GOOGLE_API_KEY=AIza{r(URL,35)}')
case(f,'google-api-key', f'<script src="https://maps.googleapis.com/maps/api/js?key=AIza{r(URL,35)}&callback=init"></script>')
case(f,'google-api-key', f'const genAI = new GoogleGenerativeAI("AIza{r(URL,35)}");')
sa = {"type":"service_account","project_id":"acme-prod","private_key_id":r(HEX,40),"private_key":pem(nl='\n'),"client_email":"ci@acme-prod.iam.gserviceaccount.com"}
case(f,'gcp-service-account-key', json.dumps(sa).replace('\\','\\\\'))
sa2 = json.dumps(sa, indent=2)
case(f,'gcp-service-account-key', sa2.replace('\\','\\\\').replace('\n','\\n'))
case(f,'none', 'GOOGLE_API_KEY=AIzaXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX')
case(f,'none', 'const KEY_PREFIX = "AIza"; // Google API keys')
case(f,'none', '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\\\n...\\\\n-----END PRIVATE KEY-----\\\\n"}')

# ---- azure
f='azure'
azk = lambda: r(B64,86)+'=='
case(f,'azure-storage-key', f'DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={azk()};EndpointSuffix=core.windows.net')
case(f,'azure-storage-key', f'"ServiceBus": "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={r(B64,43)}="')
case(f,'azure-sas-signature', f'https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={r(AN,40)}%3D')
case(f,'none', 'DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=<your-account-key>;')
case(f,'none', 'UseDevelopmentStorage=true')
case(f,'none', 'AccountKey=${STORAGE_KEY};EndpointSuffix=core.windows.net')

# ---- twilio / sendgrid
f='messaging'
case(f,'twilio-api-key', f'TWILIO_API_KEY=SK{r(HEX,32)}')
case(f,'twilio-auth-token', f'TWILIO_AUTH_TOKEN={r(HEX,32)}')
case(f,'twilio-auth-token', f'twilio_token: "{r(HEX,32)}"')
case(f,'sendgrid-api-key', f'SENDGRID_API_KEY=SG.{r(URL,22)}.{r(URL,43)}')
case(f,'sendgrid-api-key', f'sgMail.setApiKey("SG.{r(URL,22)}.{r(URL,43)}");')
case(f,'none', 'TWILIO_AUTH_TOKEN=your_auth_token')
case(f,'none', 'SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
case(f,'none', f'TWILIO_ACCOUNT_SID=AC{r(HEX,32)}')
case(f,'none', 'sgMail.setApiKey(process.env.SENDGRID_API_KEY);')

# ---- npm / pypi
f='registries'
case(f,'npm-token', f'//registry.npmjs.org/:_authToken=npm_{r(AN,36)}')
case(f,'npm-token', f'NPM_TOKEN=npm_{r(AN,36)}')
case(f,'npm-token', f'//npm.pkg.github.com/:_authToken={r(HEX,8)}-{r(HEX,4)}-{r(HEX,4)}-{r(HEX,4)}-{r(HEX,12)}')
case(f,'pypi-token', f'password = pypi-AgEIcHlwaS5vcmc{r(URL,120)}')
case(f,'pypi-token', f'TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZw{r(URL,110)}')
case(f,'none', '//registry.npmjs.org/:_authToken=${NPM_TOKEN}')
case(f,'none', 'npm_config_registry=https://registry.npmjs.org/')
case(f,'none', 'const npm_package_version = process.env.npm_package_version;')
case(f,'none', 'TWINE_PASSWORD=pypi-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')

# ---- pem
f='private-key'
case(f,'private-key', esc(pem('RSA PRIVATE KEY')))
case(f,'private-key', esc(pem('EC PRIVATE KEY', lines=3)))
case(f,'private-key', esc(pem('OPENSSH PRIVATE KEY', lines=6)))
case(f,'private-key', esc('key = """' + pem('PRIVATE KEY') + '"""'))
case(f,'private-key', esc(pem('ENCRYPTED PRIVATE KEY', lines=10)))
case(f,'private-key', esc('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGV' + '\n'.join(r(B64,64) for _ in range(10))[7:] + '\n=' + r(B64,4) + '\n-----END PGP PRIVATE KEY BLOCK-----'))
case(f,'private-key', 'PRIVATE_KEY="' + pem('RSA PRIVATE KEY', nl='\\\\n', lines=8) + '"')
case(f,'private-key', esc('pasted, but cut short:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA' + '\n'.join(r(B64,64) for _ in range(5))[16:]))
case(f,'none', esc('-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----'))
case(f,'none', esc('-----BEGIN PUBLIC KEY-----\n' + '\n'.join(r(B64,64) for _ in range(4)) + '\n-----END PUBLIC KEY-----'))
case(f,'none', esc('-----BEGIN CERTIFICATE-----\n' + '\n'.join(r(B64,64) for _ in range(8)) + '\n-----END CERTIFICATE-----'))
case(f,'none', 'if (strstr(pem, "-----BEGIN PRIVATE KEY-----")) return parse_pkcs8(pem);')

# ---- jwt
f='jwt'
def b64u(b): return base64.urlsafe_b64encode(b).decode().rstrip('=')
def jwt():
    h=b64u(json.dumps({"alg":"HS256","typ":"JWT"}).encode()); p=b64u(json.dumps({"sub":r(string.digits,10),"name":"Jo","iat":1700000000+R.randint(0,10**6)}).encode())
    return f'{h}.{p}.{b64u(bytes(R.getrandbits(8) for _ in range(32)))}'
case(f,'jwt', f'token = "{jwt()}"')
case(f,'jwt', f'Cookie: session={jwt()}; Path=/')
case(f,'jwt', f'{{"id_token":"{jwt()}"}}')
case(f,'jwt', f'curl -H "Authorization: Bearer {jwt()}" https://api.acme.io/me')
case(f,'none', 'const parts = token.split("."); // header.payload.signature')
case(f,'none', 'eyJhbGciOiJIUzI1NiJ9 is the base64url of {"alg":"HS256"}')

# ---- url creds & connection strings
f='connection'
case(f,'url-credentials', f'DATABASE_URL=postgres://app:{r(AN,20)}@db.internal:5432/app')
case(f,'url-credentials', f'mongoose.connect("mongodb+srv://admin:{r(AN,16)}@cluster0.ab1cd.mongodb.net/prod")')
case(f,'url-credentials', f'REDIS_URL=redis://:{r(AN,24)}@cache.acme.io:6379/0')
case(f,'url-credentials', f'amqp://guest:Gu3st!{r(AN,8)}@rabbit:5672/')
case(f,'url-credentials', f'https://deploy:{r(AN,12)}@registry.acme.io/v2/')
case(f,'url-credentials', f'mysql://root:p@ss{r(AN,6)}w0rd@localhost/app')
case(f,'connection-string-password', f'Server=tcp:acme.database.windows.net,1433;Initial Catalog=prod;User ID=app;Password={r(AN,10)}!x;Encrypt=True;')
case(f,'connection-string-password', f'"ConnectionStrings": {{ "Default": "Data Source=sql01;Initial Catalog=Shop;User Id=sa;Password=Winter2024!;" }}')
case(f,'connection-string-password', f'var cs = "Server=myhost;Database=db;Uid=app;Pwd={{{r(AN,8)};x}};";')
case(f,'connection-string-password', f"Driver={{ODBC Driver 18 for SQL Server}};Server=db;UID=u;PWD='{r(AN,12)}';")
case(f,'connection-string-password', f'Password={r(AN,14)};Persist Security Info=False;User ID=sa;Initial Catalog=erp;Data Source=.')
case(f,'connection-string-password', f'Host=pg;Username=app;Password=hunter2')
case(f,'none', 'DATABASE_URL=postgres://user:password@localhost:5432/db')
case(f,'none', 'const url = `postgres://${user}:${password}@${host}/${db}`;')
case(f,'none', 'fmt.Sprintf("postgres://%s:%s@%s/%s", user, pass, host, db)')
case(f,'none', 'Server=myServerAddress;Database=myDataBase;User Id=myUsername;Password=myPassword;')
case(f,'none', 'Server=tcp:x.database.windows.net;Database=db;Password=<password>;')
case(f,'none', 'Server=db;Database=app;Password=${DB_PASSWORD};')
case(f,'none', 'Data Source=.;Initial Catalog=erp;Integrated Security=True;')
case(f,'none', 'git clone git@github.com:octo/hello.git')
case(f,'none', 'http://localhost:8080/api?next=https://example.com')
case(f,'none', 'std::chrono::seconds timeout{30}; ns::a:b@c')

# ---- authorization headers
f='headers'
case(f,'authorization-header', f'Authorization: Basic {base64.b64encode(("deploy:"+r(AN,16)).encode()).decode()}')
case(f,'authorization-header', f'curl -H "Authorization: Bearer {r(AN,40)}" https://api.acme.io')
case(f,'authorization-header', f"headers = {{'Authorization': 'Token {r(HEX,40)}'}}")
case(f,'authorization-header', f'X-API-Key: {r(AN,32)}')
case(f,'authorization-header', f'req.Header.Set("x-api-key", "{r(AN,28)}")')
case(f,'authorization-header', f'{{"headers": {{"authorization": "Bot {r(URL,24)}.{r(URL,6)}.{r(URL,27)}"}}}}')
case(f,'none', 'Authorization: Bearer ${TOKEN}')
case(f,'none', 'headers: { Authorization: `Bearer ${token}` },')
case(f,'none', 'headers["Authorization"] = "Bearer " + accessToken;')
case(f,'none', 'Authorization: Bearer <token>')
case(f,'none', 'authorization: string;')
case(f,'none', 'const authorization = req.headers.authorization;')
case(f,'none', 'Authorization: Bearer YOUR_API_TOKEN')
case(f,'none', "'x-api-key': apiKey,")

# ---- generic
f='generic'
case(f,'generic-secret', f'API_KEY={r(AN,32)}')
case(f,'generic-secret', f'const apiKey = "{r(AN,24)}";')
case(f,'generic-secret', f'client_secret: {r(URL,40)}')
case(f,'generic-secret', f'"clientSecret": "{r(AN,34)}"')
case(f,'generic-secret', f'SECRET_KEY = "django-insecure-{r(AN+"!@#%^&*(-_=+)",50)}"')
case(f,'generic-secret', f'auth_token = "{r(HEX,32)}"')
case(f,'generic-secret', f'webhookSecret: string = "{r(AN,30)}";')
case(f,'generic-secret', f'SESSION_SECRET={r(AN,48)}')
case(f,'generic-secret', f'encryption_key: "{base64.b64encode(bytes(R.getrandbits(8) for _ in range(32))).decode()}"')
case(f,'generic-secret', f'access_token := "{r(AN,36)}"')
case(f,'generic-secret', f'{{\\"api_key\\": \\"{r(AN,30)}\\"}}')
case(f,'generic-secret', f'  private_key: {r(HEX,64)}')
case(f,'generic-secret', f'set api_key {r(AN,8)}-{r(AN,8)}  # see below\\nAPI_TOKEN={r(HEX,40)}')
case(f,'password-assignment', f'DB_PASSWORD={r(AN,12)}')
case(f,'password-assignment', 'password = "hunter2!"')
case(f,'password-assignment', "'PASSWORD': 'Tr0ub4dor&3',")
case(f,'password-assignment', f'spring.datasource.password={r(AN,10)}9')
case(f,'password-assignment', f'  passwd: "{r(AN,14)}"')
case(f,'password-assignment', f'smtp_pass = "S3cure#{r(AN,5)}"')
case(f,'password-assignment', f'{{"user": "admin", "password": "Adm1n!{r(AN,6)}"}}')
case(f,'password-assignment', f'keystorePassword=changeit{r(string.digits,3)}X')
comment(f,'False alarms other scanners are known for.')
case(f,'none', f'const tokenizationId = "{r(HEX,32)}";')
case(f,'none', f'tokenizationKey: "{r(HEX,32)}"')
case(f,'none', f'commit_sha = "{r(HEX,40)}"')
case(f,'none', f'const requestId = "{R.getrandbits(32):08x}-{R.getrandbits(16):04x}-4{R.getrandbits(12):03x}-a{R.getrandbits(12):03x}-{R.getrandbits(48):012x}";')
case(f,'none', f'"key": "ctrl+shift+down", "command": "editor.action.copyLinesDownAction"')
case(f,'none', '{ "key": "cmd+k cmd+s", "when": "editorTextFocus" }')
case(f,'none', 'const accessToken = await getAccessTokenFromRefreshToken(refreshToken);')
case(f,'none', 'token = tokens[i];')
case(f,'none', 'secret: secretFromVault,')
case(f,'none', 'apiKey: config.openai.apiKey,')
case(f,'none', 'password: passwordInput.value,')
case(f,'none', 'const password = form.get("password");')
case(f,'none', 'if (token === undefined || token.length === 0) throw new Error("missing token");')
case(f,'none', 'type Token = { kind: TokenKind; text: string };')
case(f,'none', 'token = lexer.next_token(); if (token.kind == TOKEN_EOF) break;')
case(f,'none', f'<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAA{r(B64,200)}=" alt="logo">')
case(f,'none', f'const logo = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAyNCAyNCI+{r(B64,120)}";')
case(f,'none', f'"integrity": "sha512-{base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()}",')
case(f,'none', f'  integrity sha512-{base64.b64encode(bytes(R.getrandbits(8) for _ in range(64))).decode()}')
case(f,'none', f'"resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz#{r(HEX,40)}"')
case(f,'none', f'version "1.3.0"\\n  resolved "https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#{r(HEX,40)}"')
case(f,'none', f'hash = "{r(HEX,64)}"  # sha256 of the release tarball')
case(f,'none', 'API_KEY=your-api-key-here')
case(f,'none', 'OPENAI_API_KEY=<OPENAI_API_KEY>')
case(f,'none', 'api_key = os.environ["API_KEY"]')
case(f,'none', 'const API_KEY = process.env.API_KEY;')
case(f,'none', 'apiKey: "${API_KEY}"')
case(f,'none', 'secret = "{{ vault_secret }}"')
case(f,'none', 'password: "********"')
case(f,'none', 'PASSWORD=')
case(f,'none', 'password: "Enter your password"')
case(f,'none', "password: 'required',")
case(f,'none', 'pwd = os.getcwd()')
case(f,'none', 'PWD=/home/dev/projects/coop')
case(f,'none', 'secret_path = "/etc/coop/secret.key"')
case(f,'none', 'credentials: "include",')
case(f,'none', 'credentials_file = "./creds/service-account.json"')
case(f,'none', 'token = 0x1f2e3d4c5b6a7988ULL;')
case(f,'none', 'MAX_TOKENS = 4096')
case(f,'none', 'max_tokens: 1024,')
case(f,'none', 'nextPageToken: "CAoQAA"')
case(f,'none', 'secretName: "prod-db-credentials"')
case(f,'none', 'bypass = "skip-auth-check"')
case(f,'none', 'compass = "north-north-east"')
case(f,'none', 'const passwordHash = await bcrypt.hash(password, 12);')
case(f,'none', 'password_reset_token_ttl = 3600')
case(f,'none', 'password = "password123"')
case(f,'none', 'password: "Password"')
case(f,'none', 'password = "qwertyuiop"')
case(f,'password-assignment', 'password: "hunter2"')
case(f,'none', 'export SECRET_KEY=$(openssl rand -hex 32)')
case(f,'none', 'token := os.Getenv("GITHUB_TOKEN")')
case(f,'none', 'primaryKey: "user_id", sortKey: "created_at"')
case(f,'none', 'cacheKey = f"{user_id}:{repo_id}:{path_hash}"')
case(f,'none', 'let key = "ArrowDown";')
case(f,'none', 'access_token = [REDACTED:generic-secret]')

# ---- non-UTF8 / binary
f='bytes'
case(f,'github-token', f'\\xff\\xfe\\x00token=ghp_{r(AN,36)}\\x00\\xc3\\x28')
case(f,'generic-secret', f'\\x00\\x00api_key = "{r(AN,24)}"\\x80')
case(f,'none', '\\x00\\x01\\x02\\x03\\xff\\xfe\\xfd')
case(f,'none', '\\xc3\\x28\\xa0\\xa1\\xe2\\x28\\xa1 password')

# ---- pii
f='pii'
comment(f,'PII group (enabled in this file).')
case(f,'email-address', 'Reported by maria.lopez@globex-mail.com yesterday')
case(f,'email-address', 'git log --author="Sam Lee <sam.lee+ci@initech.co.uk>"')
case(f,'ipv4-address', 'ssh deploy@203.0.113.45 -p 2222')
case(f,'ipv4-address', 'upstream backend { server 10.20.30.40:8080; }')
case(f,'none', 'contact support@example.com for help')
case(f,'none', 'listen 127.0.0.1:8080 and 0.0.0.0:443')
case(f,'none', 'version 1.2.3.4.5 released')
case(f,'none', 'import x from "@types/node";')
case(f,'none', 'netmask 255.255.255.0')

for name, cases in out.items():
    path = f'{sys.argv[1]}/{name}.txt'
    with open(path,'w') as fh:
        if name == 'pii': fh.write('#! pii\n')
        for exp, text in cases:
            if exp == '#': fh.write('# ' + text + '\n')
            else:
                assert '\n' not in text and '\t' not in text, (name, text[:40])
                fh.write(f'{exp}\t{text}\n')
print(sum(len(c) for c in out.values()))
