"""ValidatingWebhookConfigurations."""

from podhost.registry.admissionregistration.webhooks import WebhookConfigurationStrategy

strategy = WebhookConfigurationStrategy(mutating=False)
