"""The mobile push platform applications a deployer makes once, made by the embedded cloud at start.

Covers: CloudFormation has no ``AWS::SNS::PlatformApplication``, so on AWS the deployer creates the FCM and APNs
platform applications (with the platform's credentials) and names them to the CDK app by context
(``crewhouse:pushFcmApplication``, ``crewhouse:pushApnsApplication``). Locally the synthesized template names
:data:`LOCAL_PUSH_CONTEXT` (``<PLATFORM>/<name>``: an application in the stack's own account and region) and
:func:`create_push_applications` makes them in moto, which keeps what is published to their endpoints (shown
at ``/_local/outbox``) and refuses a publish to a disabled endpoint with ``EndpointDisabled``, as SNS does.
"""

from __future__ import annotations

from crewhouse.local.endpoint import local_client

LOCAL_PUSH_APPLICATIONS = {"crewhouse:pushFcmApplication": ("GCM", "crewhouse-local-fcm"),
                           "crewhouse:pushApnsApplication": ("APNS", "crewhouse-local-apns")}
LOCAL_PUSH_CONTEXT = {key: f"{platform}/{name}" for key, (platform, name) in LOCAL_PUSH_APPLICATIONS.items()}


def create_push_applications() -> list[str]:
    """Create (or find again: SNS answers the same ARN for the same name) the local platform applications."""
    sns = local_client("sns")
    return [sns.create_platform_application(Name=name, Platform=platform,
                                            Attributes={"PlatformCredential": "local"})["PlatformApplicationArn"]
            for platform, name in LOCAL_PUSH_APPLICATIONS.values()]
