"""Credit lists (红名单、黑名单、重点关注名单): entries as dated records with an append-only event history (propose,
serve, objections, listing, expiry, revocation), the joint measures each listing routes to departments (联合奖惩,
抄告反馈), credit repair (信用修复) and the public disclosure site. Lists may import ``notices`` (a pre-listing
notice is issued in the transaction that records its service); ``notices`` never imports lists.
"""
