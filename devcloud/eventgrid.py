"""Placeholder: Event Grid system topics and webhook delivery."""


class EventGrid:
    def __init__(self, cloud):
        self.cloud = cloud

    def stop(self):
        pass
