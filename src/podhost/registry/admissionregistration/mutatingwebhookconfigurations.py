"""MutatingWebhookConfigurations (reinvocationPolicy defaulted too)."""

from podhost.registry.admissionregistration.webhooks import WebhookConfigurationStrategy

strategy = WebhookConfigurationStrategy(mutating=True)
