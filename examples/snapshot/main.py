"""README's `snapshot` function behind a lambda-style HTTP trigger: the Lambda function URL event in, a function URL result out."""


def handler(event, context):
    disk = (event.get("queryStringParameters") or {}).get("diskID")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"disk": "%s"}' % disk}
