"""kefu-floor: real-time call-centre floor monitor with an appraisal scoring engine."""
__version__ = "0.1.0"
