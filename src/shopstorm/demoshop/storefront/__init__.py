"""The storefront face: server-rendered pages with CSRF, sessions and a checkout in steps, standing in for Saleor's
2018 storefront (a Django shop); its products are the webshop face's items.
"""
