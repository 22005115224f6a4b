from django import template

register = template.Library()

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


@register.filter
def money(amount: int, currency: str) -> str:
    """Format minor units as a price: ``money(4900, "USD")`` → ``$49.00``."""
    major = f"{amount // 100:,}.{amount % 100:02d}"
    symbol = SYMBOLS.get(currency.upper())
    return f"{symbol}{major}" if symbol else f"{major} {currency.upper()}"
